"""S3 in tests: moto's server on loopback, and a recording proxy in front of it.

The proxy passes every request through unchanged and records each GET: who sent it (ffmpeg or the
minio SDK, by User-Agent), the object key, the Range asked for and the body bytes passed on. A test
can also have it refuse chosen reads with a 403, as for a URL signed wrongly or expired.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SEND_BUFFER = 256 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server on a free loopback port: yields its host:port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"{host}:{port}"
    finally:
        server.stop()


@dataclass
class Get:
    agent: str  # "ffmpeg", "sdk" or the raw User-Agent
    path: str  # /bucket/key, without the query
    range: str | None
    sent: int = 0  # body bytes passed on before the response ended or the client went away


def agent_of(user_agent: str) -> str:
    if user_agent.startswith("Lavf/"):
        return "ffmpeg"
    if user_agent.startswith("MinIO"):
        return "sdk"
    return user_agent


class RecordingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.gets: list[Get] = []
        self.refuse: Callable[[Get], bool] = lambda get: False
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def reads_of(self, key: str, agent: str | None = None) -> list[Get]:
        """GETs of an object key (the bucket prefix aside), optionally by one agent."""
        with self._lock:
            return [g for g in self.gets if g.path.endswith("/" + key) and (agent is None or g.agent == agent)]

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # A small send buffer, so that a read the client abandons (a seek) counts little more
                # than what it consumed: what sits in socket buffers is counted as passed on.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                get = None
                if self.command == "GET":
                    agent = agent_of(self.headers.get("User-Agent", ""))
                    get = Get(agent, urlsplit(self.path).path, self.headers.get("Range"))
                    with proxy._lock:
                        proxy.gets.append(get)
                    if proxy.refuse(get):
                        self.send_response(403)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                upstream = http.client.HTTPConnection(proxy.upstream, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    resp = upstream.getresponse()
                    self.send_response(resp.status)
                    for name, value in resp.getheaders():
                        if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                            self.send_header(name, value)
                    size = resp.getheader("Content-Length")
                    data = None if self.command in ("GET", "HEAD") else resp.read()
                    if data is not None:
                        size = str(len(data))
                    if size is not None:
                        self.send_header("Content-Length", size)
                        if self.close_connection:  # the client asked for it: say so, as servers do
                            self.send_header("Connection", "close")
                    else:
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    self.end_headers()
                    if self.command == "HEAD":
                        return
                    if data is not None:
                        self.wfile.write(data)
                        return
                    while chunk := resp.read(64 * 1024):
                        try:
                            self.wfile.write(chunk)
                        except OSError:
                            self.close_connection = True  # the reader went away (a seek): stop here
                            return
                        assert get is not None
                        get.sent += len(chunk)
                finally:
                    upstream.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

        return Handler
