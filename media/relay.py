"""A loopback relay through which local readers (ffmpeg) read an object by its presigned URL, without
the URL ever being on their command line.

A presigned URL is a bearer credential for hours: on an argv, any local user reads it in
/proc/<pid>/cmdline, and logs that print a failed command print it too. ffmpeg has no way to take its
input URL from a file or the environment that keeps its demuxing unchanged (the concat demuxer does
take one from a file, but changes the stream's time base and frame rate, which the encode relies on).
So the URL stays in this process: `RELAY.register(url, expires)` gives `http://127.0.0.1:<port>/<id>`,
a name that holds no credential, and the relay answers it by passing the request (its Range, so that
ffmpeg seeks exactly as it did on the URL itself) to the presigned URL and streaming the answer back.

Only this user's processes are answered: a connection whose peer socket /proc/net/tcp does not show
as owned by our uid (another local user who read the name in a command line) gets 403. Where that
cannot be told (no /proc), nothing is answered, and a streamed read falls back to a download
(transcoder.encode.source). An id expires with its URL. Errors upstream become 502 with the id, never
the URL, in the log.
"""

from __future__ import annotations

import http.client
import logging
import os
import secrets
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

# Request headers passed on (the rest are ffmpeg's own business), and answer headers passed back.
FORWARDED = ("range", "if-range", "user-agent")
RETURNED = ("content-type", "content-length", "content-range", "accept-ranges", "etag", "last-modified")
CHUNK = 64 * 1024
# Socket buffers on both sides of the relay, fixed like ffmpeg's own (transcoder.encode.commands): what
# a seek throws away is what they hold, and autotuned loopback buffers grow to several MB each.
UPSTREAM_BUFFER = 256 * 1024
READER_BUFFER = 128 * 1024
TIMEOUT = 30.0  # seconds without a byte from upstream (ffmpeg's own rw_timeout is 30 s too)
_TCP_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")


def peer_uid(peer: tuple[str, int], local_port: int) -> int | None:
    """The uid owning the local socket `peer` connected to our `local_port`, from /proc/net/tcp; None
    when it cannot be told. Linux lists every TCP socket with its owner's uid, both ends of a loopback
    connection included."""
    wanted_port = f"{peer[1]:04X}"
    ours = f"{local_port:04X}"
    for table in _TCP_TABLES:
        try:
            with open(table) as lines:
                next(lines, None)
                for line in lines:
                    fields = line.split()
                    if len(fields) < 8:
                        continue
                    local, remote = fields[1], fields[2]
                    if local.endswith(":" + wanted_port) and remote.endswith(":" + ours):
                        return int(fields[7])
        except OSError:
            continue
    return None


@dataclass
class Relay:
    """One per process, started on first use (after a worker pool has forked)."""

    _targets: dict[str, tuple[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _pid: int = 0

    def register(self, url: str, expires: timedelta) -> str:
        """A loopback name for `url`, answered until `expires` from now (the URL's own validity)."""
        name = secrets.token_urlsafe(18)
        with self._lock:
            now = time.monotonic()
            for stale in [k for k, (_, until) in self._targets.items() if until <= now]:
                del self._targets[stale]
            self._targets[name] = (url, now + expires.total_seconds())
            port = self._start()
        return f"http://127.0.0.1:{port}/{name}"

    def target(self, name: str) -> str | None:
        with self._lock:
            found = self._targets.get(name)
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]

    @property
    def port(self) -> int:
        return 0 if self._server is None else int(self._server.server_address[1])

    def _start(self) -> int:
        if self._server is None or self._pid != os.getpid():  # a forked child does not inherit the thread
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
            self._server.daemon_threads = True
            self._pid = os.getpid()
            threading.Thread(target=self._server.serve_forever, name="original-relay", daemon=True).start()
        return self.port


def _connect(url: str) -> tuple[http.client.HTTPConnection, str]:
    """A connection to the presigned URL's host, and the request target. The standard library's
    client, because it logs nothing: httpx logs every request's URL at INFO, urllib3 at DEBUG, and
    the URL is the credential. Its receive buffer is fixed before it connects (a TCP window is
    negotiated then)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UPSTREAM_BUFFER)
        sock.settimeout(TIMEOUT)
        sock.connect(address)
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(parts.netloc, timeout=TIMEOUT)
            connection.sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        else:
            connection = http.client.HTTPConnection(parts.netloc, timeout=TIMEOUT)
            connection.sock = sock
    except OSError:
        sock.close()
        raise
    return connection, target


def _handler(relay: Relay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
            self._relay(body=False)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._relay(body=True)

        def _relay(self, *, body: bool) -> None:
            name = self.path.lstrip("/")
            peer = (str(self.client_address[0]), int(self.client_address[1]))
            if peer_uid(peer, relay.port) != os.getuid():
                log.warning("relay: refused a connection not from this user (for %s)", name[:6])
                self._answer(403)
                return
            url = relay.target(name)
            if url is None:
                self._answer(404)
                return
            headers = {k: v for k in FORWARDED if (v := self.headers.get(k)) is not None}
            answered = False
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, READER_BUFFER)
            try:
                connection, target = _connect(url)
            except OSError as exc:  # its text may hold the host: the class is enough; ffmpeg retries a 502
                log.warning("relay: reading %s upstream failed (%s)", name[:6], type(exc).__name__)
                self._answer(502)
                return
            try:
                connection.request("GET" if body else "HEAD", target, headers=headers)
                upstream = connection.getresponse()
                self.send_response(upstream.status)
                # One request per connection: a reader that seeks opens another (ffmpeg would otherwise
                # send its next range on this connection while the rest of this body is still coming).
                self.send_header("Connection", "close")
                self.close_connection = True
                for key in RETURNED:
                    value = upstream.getheader(key)
                    if value is not None:
                        self.send_header(key, value)
                self.end_headers()
                answered = True
                while body and (chunk := upstream.read1(CHUNK)):
                    self.wfile.write(chunk)  # a reader that went away ends this: its seek
            except (OSError, http.client.HTTPException) as exc:
                # The error's text may hold the URL: its class is enough. During the body, the reader
                # hung up (ffmpeg seeking elsewhere) or upstream dropped: ffmpeg resumes by range.
                if answered:
                    log.debug("relay: %s ended early (%s)", name[:6], type(exc).__name__)
                    self.close_connection = True
                else:  # upstream unreachable: a 502, which ffmpeg retries
                    log.warning("relay: reading %s upstream failed (%s)", name[:6], type(exc).__name__)
                    self._answer(502)
            finally:
                connection.close()

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass  # the request line holds nothing useful, and nothing secret either

    return Handler


RELAY = Relay()
