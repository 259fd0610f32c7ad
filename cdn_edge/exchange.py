"""One HTTP/1.1 request and its response, carried between a connection (cdn_edge.protocol) and the
ASGI app: the scope, `receive` (the request body as it arrives, `Expect: 100-continue` answered on
the first read) and `send` (status line and headers validated and written, the body framed by
Content-Length or chunked, writes held while the transport's buffer is full).

An app that raises before it answers gets a 500 and the connection is closed; one that raises or
returns mid-answer has the connection closed (the client sees a short response, never a 200 that
looks whole). Nothing of the exception reaches the client.
"""

from __future__ import annotations

import asyncio
import http
import logging
import re
from collections.abc import Callable
from typing import Any, Protocol

from starlette.types import ASGIApp, Message

# Header names are tokens; values carry no control characters but tab (RFC 9110 5.1, 5.5).
INVALID_NAME = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
INVALID_VALUE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")
# Request body bytes held for the app before the connection stops reading.
BODY_HIGH_WATER = 64 * 1024
ERROR_500 = b"Internal Server Error"
logger = logging.getLogger("cdn_edge.protocol")
access_logger = logging.getLogger("uvicorn.access")  # the server's access log, when it has one


def status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase.encode()
    except ValueError:
        phrase = b""
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase)


STATUS_LINES = {status: status_line(status) for status in range(100, 600)}


class Connection(Protocol):
    """What an exchange needs of its connection (cdn_edge.protocol.EdgeProtocol)."""

    transport: asyncio.Transport

    def resume_reading(self) -> None: ...
    def pause_reading(self) -> None: ...
    async def drain(self) -> None:
        """Return once the transport takes writes again (at once unless it paused writing)."""

    def exchange_done(self, exchange: Exchange) -> None:
        """The response is written whole (or the connection is lost): the next request may go."""


class Exchange:
    def __init__(
        self, connection: Connection, scope: dict[str, Any], defaults: bytes, keep_alive: bool, expect_continue: bool
    ) -> None:
        self.connection = connection
        self.scope = scope
        self.defaults = defaults  # the server's headers (Date, Server) as lines
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.event = asyncio.Event()  # set when body bytes arrive, the body ends or the client leaves
        self.body = bytearray()
        self.more_body = True
        self.body_delivered = False  # the app has read the end of the body
        self.disconnected = False
        self.started = False  # the status line is written
        self.complete = False  # the response is written whole
        self.chunked = False
        self.remaining = 0  # body bytes the Content-Length still announces
        self.on_done: Callable[[Exchange], None] = connection.exchange_done

    # From the connection
    def receive_body(self, data: bytes) -> None:
        if self.complete:
            return  # answered without reading it: the parser reads past it
        self.body += data
        if len(self.body) > BODY_HIGH_WATER:
            self.connection.pause_reading()
        self.event.set()

    def end_body(self) -> None:
        self.more_body = False
        self.event.set()

    def lose(self) -> None:
        self.disconnected = True
        self.event.set()

    async def run(self, app: ASGIApp) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except Exception:
            logger.exception("the app failed on %s %s", self.scope["method"], self.scope["path"])
            await self.fail()
        else:
            if not self.complete and not self.disconnected:
                logger.error("the app returned without completing its response to %s", self.scope["path"])
                await self.fail()
        finally:
            if not self.complete:
                self.complete = True
                self.on_done(self)

    async def fail(self) -> None:
        """A 500 if nothing of the answer is written yet, else the connection closed short."""
        if self.started or self.disconnected:
            self.connection.transport.close()
            return
        self.keep_alive = False
        await self.send({"type": "http.response.start", "status": 500, "headers": [
            (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(ERROR_500)),
        ]})  # fmt: skip
        await self.send({"type": "http.response.body", "body": ERROR_500})

    # ASGI
    async def receive(self) -> Message:
        if self.expect_continue and not self.connection.transport.is_closing():
            self.connection.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.expect_continue = False
        # After the end of the body, the next message is http.disconnect: when the client leaves or the
        # response is complete (what an app listening for a disconnect waits for).
        while not (self.disconnected or self.complete):
            if self.body or (not self.more_body and not self.body_delivered):
                break
            self.connection.resume_reading()
            self.event.clear()
            await self.event.wait()
        if self.disconnected or self.complete:
            return {"type": "http.disconnect"}
        body, self.body = bytes(self.body), bytearray()
        self.body_delivered = not self.more_body
        self.connection.resume_reading()
        return {"type": "http.request", "body": body, "more_body": self.more_body}

    async def send(self, message: Message) -> None:
        await self.connection.drain()
        if self.disconnected:
            return
        if not self.started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"expected http.response.start, got {message['type']}")
            self.expect_continue = False  # answered without reading the body: no 100 any more
            self._write_head(message["status"], message.get("headers", []))
            return
        if self.complete:
            raise RuntimeError(f"{message['type']} after the response was complete")
        if message["type"] != "http.response.body":
            raise RuntimeError(f"expected http.response.body, got {message['type']}")
        body: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        transport = self.connection.transport
        if self.scope["method"] == "HEAD":
            pass
        elif self.chunked:
            if body:
                transport.writelines((b"%x\r\n" % len(body), body, b"\r\n"))
            if not more:
                transport.write(b"0\r\n\r\n")
        else:
            if len(body) > self.remaining:
                raise RuntimeError("response body longer than its Content-Length")
            self.remaining -= len(body)
            if body:
                transport.write(body)
        if not more:
            if self.remaining and self.scope["method"] != "HEAD":
                raise RuntimeError("response body shorter than its Content-Length")
            self.complete = True
            self.event.set()
            if not self.keep_alive:
                transport.close()
            self.on_done(self)

    def _write_head(self, status: int, headers: Any) -> None:
        lines = [STATUS_LINES.get(status) or status_line(status)]
        length: int | None = None
        close_sent = False
        for name, value in headers:
            if INVALID_NAME.search(name) or INVALID_VALUE.search(value):
                raise RuntimeError(f"invalid response header {name!r}")
            name = name.lower()
            if name == b"content-length" and length is None and not self.chunked:
                length = int(value)
            elif name == b"transfer-encoding" and value.lower() == b"chunked":
                self.chunked = True
            elif name == b"connection" and b"close" in [t.strip().lower() for t in value.split(b",")]:
                self.keep_alive = False
                close_sent = True
            lines.append(b"%s: %s\r\n" % (name, value))
        if not self.keep_alive and not close_sent:
            lines.append(b"connection: close\r\n")
        if self.chunked:
            length = None
        elif length is None and self.scope["method"] != "HEAD" and status not in (204, 304):
            self.chunked = True  # neither length nor encoding given: chunked
            lines.append(b"transfer-encoding: chunked\r\n")
        self.remaining = 0 if status in (204, 304) else length or 0  # their Content-Length is the object's
        if access_logger.hasHandlers():
            client = self.scope["client"]
            peer = f"{client[0]}:{client[1]}" if client else ""
            access_logger.info('%s - "%s %s HTTP/%s" %d', peer, self.scope["method"], self.scope["path"],
                               self.scope["http_version"], status)  # fmt: skip
        lines[0] += self.defaults
        lines.append(b"\r\n")
        self.started = True
        self.connection.transport.write(b"".join(lines))
