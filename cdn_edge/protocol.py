"""The edge's HTTP/1.1 connection: fresh memory hits answered as soon as their head is parsed, every
other request handed to the ASGI app (cdn_edge.exchange).

For a 2 KB playlist, what an ASGI server does around the app (a scope, a task per request, the send
and receive coroutines) costs more than FreshHits itself. EdgeProtocol answers a request FreshHits
allows with one write of status line, headers and body, synchronously, in the parser's callback.
It is written against httptools' public parser API and asyncio's transport API only, and served by
uvicorn through its `http=` setting (a protocol class called with the server's config and state):
uvicorn keeps the sockets, the lifespan, signals, the Date header and graceful shutdown (it calls
`shutdown()` on each connection in `server_state.connections` and waits for `server_state.tasks`).

Connection rules: responses go out in request order (a hit behind a request still being answered
goes to the app and waits its turn, reading paused meanwhile); keep-alive unless HTTP/1.0 or
`Connection: close`, closed after `timeout_keep_alive` idle seconds; a request the parser refuses
gets a 400 and the connection closes; upgrades are not offered (the request is answered, then the
connection closes).
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import httptools
from starlette.types import ASGIApp, Receive, Scope, Send

from cdn_edge.cmcd import HEADER_PREFIX
from cdn_edge.exchange import STATUS_LINES, Exchange
from cdn_edge.fastpath import CMCD_QUERY, FreshHits

# Bodies up to this size go out in one buffer with the head (one copy, one send); larger ones are
# handed over as they are, not copied.
JOIN_LIMIT = 64 * 1024
QUESTION_MARK = ord("?")  # an int: `int in bytes` is one memchr
BAD_REQUEST = b"Invalid HTTP request received."
logger = logging.getLogger("cdn_edge.protocol")
access_logger = logging.getLogger("uvicorn.access")


async def over_capacity(scope: Scope, receive: Receive, send: Send) -> None:
    """The app for a request past the server's limit_concurrency."""
    body = b"Service Unavailable"
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
    ]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def address(transport: asyncio.BaseTransport, name: str) -> tuple[str, int] | None:
    info = transport.get_extra_info(name)
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None


class EdgeProtocol(asyncio.Protocol):
    def __init__(
        self, config: Any, server_state: Any, app_state: dict[str, Any], hits: FreshHits | None, **_: Any
    ) -> None:
        """`config` and `server_state` are uvicorn's Config and ServerState (their public attributes:
        loaded, load(), loaded_app, root_path, timeout_keep_alive, limit_concurrency, asgi_version;
        connections, tasks, default_headers, total_requests). Without `hits` every request goes to
        the app."""
        if not config.loaded:
            config.load()
        self.app: ASGIApp = config.loaded_app
        self.root_path: str = config.root_path
        self.keep_alive_seconds: float = config.timeout_keep_alive
        self.limit_concurrency: int | None = config.limit_concurrency
        self.asgi = {"version": config.asgi_version, "spec_version": "2.3"}
        self.state = server_state
        self.app_state = app_state
        self.hits = hits
        self.qoe = hits.qoe if hits is not None else None
        self.access_log = access_logger.hasHandlers()  # uvicorn empties it with access_log=False
        self.parser = httptools.HttpRequestParser(self)
        # Answer a request whose Connection: close arrived with more bytes behind it (pipelined).
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set on connection_made
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None
        self.scheme = "http"
        self.reading = True
        self.writable: asyncio.Event | None = None  # cleared while the transport's buffer is full
        self.idle: asyncio.TimerHandle | None = None
        self.idle_since: float | None = None  # loop time the connection became idle; None: busy
        self.active: Exchange | None = None  # the request being answered
        self.waiting: deque[Exchange] = deque()  # parsed requests behind it, in order
        self.parsing: Exchange | None = None  # the request whose body the parser is reading
        self.defaults: list[tuple[bytes, bytes]] | None = None
        self.defaults_block = b""
        # Per request head
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.expect_continue = False
        self.cmcd_header = False  # a CMCD-* header is among self.headers

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport = cast(asyncio.Transport, transport)  # a stream server's (uvloop's is no subclass)
        self.client = address(transport, "peername")
        self.server = address(transport, "sockname")
        self.scheme = "https" if transport.get_extra_info("sslcontext") else "http"
        self.state.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.connections.discard(self)
        self.stop_idle_timer()
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None
        for exchange in (self.active, self.parsing, *self.waiting):
            if exchange is not None:
                exchange.lose()
        self.waiting.clear()
        if self.writable is not None:
            self.writable.set()  # writers wake and find the exchange disconnected

    def data_received(self, data: bytes) -> None:
        self.stop_idle_timer()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Nothing is upgraded here: the request is answered (already handed over), then closed.
            if self.parsing is not None:
                self.parsing.keep_alive = False
                self.parsing.end_body()
        except httptools.HttpParserError:
            logger.warning("invalid HTTP request from %s", self.client)
            self.refuse()

    def eof_received(self) -> bool | None:
        return None  # close the transport: a half-closed client gets no more answers

    def pause_writing(self) -> None:
        if self.writable is None:
            self.writable = asyncio.Event()
        self.writable.clear()

    def resume_writing(self) -> None:
        if self.writable is not None:
            self.writable.set()

    # What uvicorn calls on graceful shutdown
    def shutdown(self) -> None:
        if self.active is None:
            self.transport.close()
        else:
            self.active.keep_alive = False
            for exchange in self.waiting:
                exchange.keep_alive = False

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.expect_continue = False
        self.cmcd_header = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True
        elif name.startswith(HEADER_PREFIX):
            self.cmcd_header = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        target = self.url
        qoe = self.qoe
        if qoe is not None and QUESTION_MARK in target and not self.cmcd_header:
            # What players send, a query of nothing but CMCD, is observed and cut off the raw target
            # in one call (in C with cdn_edge.qoe_compiled), so the URL parsed is the plain hit's.
            target = qoe.take_target(target)
        url = httptools.parse_url(target)  # raises HttpParserInvalidURLError: a 400, as any bad request
        raw_path: bytes = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        path = self.root_path + path
        query: bytes = url.query or b""
        hits = self.hits
        # find(), not `in`: bytes.__contains__ tries its argument as an int first, and the exception
        # costs more than the search (about 2,400 instructions against 1,300, callgrind).
        if qoe is not None and (self.cmcd_header or (query and query.find(CMCD_QUERY) >= 0)):
            query, self.headers = qoe.take(path, query, self.headers, self.cmcd_header)  # as FreshHits.take_cmcd
        parser = self.parser
        method = parser.get_method().decode("ascii")
        if hits is not None and self._answer(hits, method, path, query):
            self.parsing = None  # its body, if any, is read past
            return
        http_version = parser.get_http_version()
        scope = {
            "type": "http", "asgi": self.asgi, "http_version": http_version, "server": self.server,
            "client": self.client, "scheme": self.scheme, "method": method, "root_path": self.root_path,
            "path": path, "raw_path": self.root_path.encode("ascii") + raw_path, "query_string": query,
            "headers": self.headers, "state": self.app_state.copy(),
        }  # fmt: skip
        keep_alive = http_version != "1.0" and parser.should_keep_alive() and not parser.should_upgrade()
        exchange = Exchange(self, scope, self._defaults(), keep_alive, self.expect_continue)
        self.parsing = exchange
        if self.active is None:
            self._start(exchange)
        else:
            self.waiting.append(exchange)
            self.pause_reading()  # one request ahead is enough

    def on_body(self, body: bytes) -> None:
        if self.parsing is not None:
            self.parsing.receive_body(body)

    def on_message_complete(self) -> None:
        if self.parsing is not None:
            self.parsing.end_body()
            self.parsing = None

    # For exchanges
    def pause_reading(self) -> None:
        if self.reading and not self.transport.is_closing():
            self.reading = False
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self.reading and not self.transport.is_closing():
            self.reading = True
            self.transport.resume_reading()

    async def drain(self) -> None:
        if self.writable is not None and not self.transport.is_closing():
            await self.writable.wait()

    def exchange_done(self, exchange: Exchange) -> None:
        if exchange is not self.active:
            return
        self.active = None
        self.state.total_requests += 1
        if self.transport.is_closing():
            return
        if self.waiting:
            self._start(self.waiting.popleft())
        else:
            self.resume_reading()
            self.start_idle_timer()

    # Inside
    def _start(self, exchange: Exchange) -> None:
        self.stop_idle_timer()
        self.active = exchange
        app: Callable[..., Any] = self.app
        if self.limit_concurrency is not None and (
            len(self.state.connections) >= self.limit_concurrency or len(self.state.tasks) >= self.limit_concurrency
        ):
            app = over_capacity
        task = self.loop.create_task(exchange.run(app))
        self.state.tasks.add(task)
        task.add_done_callback(self.state.tasks.discard)

    def _defaults(self) -> bytes:
        defaults = self.state.default_headers  # replaced, not changed, when the Date ticks
        if defaults is not self.defaults:
            self.defaults = defaults
            self.defaults_block = b"".join(b"%s: %s\r\n" % header for header in defaults)
        return self.defaults_block

    def _answer(self, hits: FreshHits, method: str, path: str, query: bytes) -> bool:
        """Answer the request whose head was just parsed, if FreshHits allows it and nothing else on
        this connection is waiting to be answered first. False: not answered, nothing written."""
        started = time.perf_counter()
        transport, parser = self.transport, self.parser
        if self.active is not None or self.waiting:
            return False  # a response before it is not complete yet: answers go out in order
        if (self.writable is not None and not self.writable.is_set()) or transport.is_closing():
            return False  # the general path waits for the client to read
        if parser.should_upgrade():
            return False
        if self.limit_concurrency is not None and (
            len(self.state.connections) >= self.limit_concurrency or len(self.state.tasks) >= self.limit_concurrency
        ):
            return False  # the general path answers 503
        found = hits.find(method, path, query, self.headers)
        if found is None or not hits.admit(self.client[0] if self.client else None, self.headers):
            return False  # not a hit, or over the client's rate limit: the app answers (429)

        encoded, body, age = found
        http_version = parser.get_http_version()
        keep_alive = http_version != "1.0" and parser.should_keep_alive()
        head = b"".join((
            STATUS_LINES[200], self._defaults(), encoded.block, b"age: %d\r\n" % age,
            b"" if keep_alive else b"connection: close\r\n", b"\r\n",
        ))  # fmt: skip
        head_only = method == "HEAD"
        hits.direct += 1  # before the write: whoever reads the answer sees it counted
        if head_only:
            transport.write(head)
        elif len(body) <= JOIN_LIMIT:
            transport.write(head + body)
        else:
            transport.writelines((head, body))
        if self.access_log:
            client = f"{self.client[0]}:{self.client[1]}" if self.client else ""
            quoted = urllib.parse.quote(path)
            access_logger.info('%s - "%s %s HTTP/%s" %d', client, method, quoted, http_version, 200)
        self.state.total_requests += 1
        if keep_alive:
            self.start_idle_timer()
        else:
            transport.close()
        hits.served(head_only, len(body), started)
        return True

    def refuse(self) -> None:
        """A 400 for what the parser refused, then close: nothing after it can be framed. Requests
        parsed before it are answered first, then the connection closes without the 400."""
        if self.transport.is_closing():
            return
        if self.parsing is not None:  # its body cannot be read to its end: the app sees a disconnect
            self.transport.close()
            return
        last = self.waiting[-1] if self.waiting else self.active
        if last is not None:
            last.keep_alive = False
            self.pause_reading()
            return
        self.transport.write(b"".join((
            STATUS_LINES[400], self._defaults(), b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\nconnection: close\r\n\r\n" % len(BAD_REQUEST), BAD_REQUEST,
        )))  # fmt: skip
        self.transport.close()

    # The keep-alive timer is armed once and moved lazily: a hit does not cancel and re-create it.
    def start_idle_timer(self) -> None:
        """The connection is idle from now: closed `timeout_keep_alive` seconds on unless used again."""
        self.idle_since = self.loop.time()
        if self.idle is None:
            self.idle = self.loop.call_at(self.idle_since + self.keep_alive_seconds, self.close_idle)

    def stop_idle_timer(self) -> None:
        """Bytes arrived or an answer is under way: not idle until start_idle_timer again."""
        self.idle_since = None

    def close_idle(self) -> None:
        self.idle = None
        if self.idle_since is None:
            return  # busy: armed again when idle
        due = self.idle_since + self.keep_alive_seconds
        if self.loop.time() < due:
            self.idle = self.loop.call_at(due, self.close_idle)
        elif self.active is None and not self.transport.is_closing():
            self.transport.close()


def edge_protocol(hits: FreshHits | None) -> Callable[..., EdgeProtocol]:
    """What to pass as uvicorn.Config(http=...): EdgeProtocol bound to a node's FreshHits (None: no
    direct answers, every request to the app)."""

    def create(**server: Any) -> EdgeProtocol:
        return EdgeProtocol(hits=hits, **server)

    return create
