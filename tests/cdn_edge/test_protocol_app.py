"""The edge's HTTP protocol (cdn_edge.protocol, cdn_edge.exchange) as an ASGI server for requests that
are not direct hits: request bodies streamed, Expect: 100-continue, answers in request order, write
flow control, app errors as a 500 or a closed connection, bad requests 400. Over real sockets served
by uvicorn with `http=edge_protocol(None)`, and on an in-memory transport where timing matters."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.types import Message, Receive, Scope, Send
from uvicorn.server import ServerState

from cdn_edge.protocol import EdgeProtocol, edge_protocol
from tests.cdn_edge.conftest import LoopbackServer, serving
from tests.cdn_edge.test_hit_protocol import Conn

events: list[str] = []


async def respond(send: Send, status: int, body: bytes, *headers: tuple[bytes, bytes]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", b"%d" % len(body)), *headers]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    events.append(f"start {path}")
    if path == "/echo":  # the body's pieces as they came, joined by "|"
        pieces: list[bytes] = []
        more = True
        while more:
            message = await receive()
            assert message["type"] == "http.request"
            pieces.append(message["body"])
            more = message["more_body"]
        await respond(send, 200, b"|".join(pieces))
    elif path == "/slow":
        for _ in range(20):
            await asyncio.sleep(0)  # let the loop parse and queue what came behind
        await respond(send, 200, b"slow")
    elif path == "/raise":
        raise ValueError("secret detail")
    elif path == "/raise-midway":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
        await send({"type": "http.response.body", "body": b"12345", "more_body": True})
        raise ValueError("secret detail")
    elif path == "/nothing":
        pass
    elif path == "/chunked":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for piece in (b"ab", b"", b"cde"):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/not-modified":  # a 304 names the length of what it does not send
        await send({"type": "http.response.start", "status": 304, "headers": [(b"content-length", b"10")]})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/bad-header":
        await respond(send, 200, b"x", (b"x-bad", b"a\r\nset-cookie: injected"))
    else:
        await respond(send, 200, path.encode())
    events.append(f"end {path}")


@pytest.fixture(params=["uvloop", "asyncio"])
def server(request: pytest.FixtureRequest) -> Iterator[LoopbackServer]:
    events.clear()
    with serving(app, loop=request.param, http=edge_protocol(None), timeout_keep_alive=5) as running:
        yield running


@pytest.fixture
def conn(server: LoopbackServer) -> Iterator[Conn]:
    opened = Conn(server.url)
    yield opened
    opened.close()


def request(method: str, path: str, *headers: str, body: bytes = b"") -> bytes:
    return ("\r\n".join([f"{method} {path} HTTP/1.1", "Host: edge", *headers]) + "\r\n\r\n").encode() + body


def test_request_body_streamed_to_the_app(conn: Conn) -> None:
    conn.send(request("POST", "/echo", "Transfer-Encoding: chunked"))
    conn.send(b"3\r\nabc\r\n")
    conn.send(b"2\r\nde\r\n0\r\n\r\n")
    reply = conn.read()
    assert reply.status == 200
    assert reply.body.replace(b"|", b"") == b"abcde"
    conn.send(request("POST", "/echo", "Content-Length: 5", body=b"hello"), request("GET", "/next"))
    assert conn.read().body.replace(b"|", b"") == b"hello"
    assert conn.read().body == b"/next"  # kept alive, the next request framed after the body


def test_large_body_read_in_pieces_with_reading_paused_between(conn: Conn) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB, past the 64 KiB the connection buffers
    conn.send(request("POST", "/echo", f"Content-Length: {len(body)}", body=body))
    assert conn.read().body.replace(b"|", b"") == body.replace(b"|", b"")


def test_expect_100_continue(conn: Conn) -> None:
    conn.send(request("POST", "/echo", "Content-Length: 5", "Expect: 100-continue"))
    conn.sock.settimeout(10)
    interim = conn.read()
    assert interim.status == 100
    conn.send(b"hello")
    assert conn.read().body == b"hello"
    # Answered without reading the body: no 100, and the body that follows is read past.
    conn.send(request("POST", "/plain", "Content-Length: 5", "Expect: 100-continue"))
    reply = conn.read()
    assert (reply.status, reply.body) == (200, b"/plain")


def test_pipelined_requests_answered_in_order_one_at_a_time(conn: Conn) -> None:
    conn.send(request("GET", "/slow"), request("GET", "/a"), request("POST", "/echo", "Content-Length: 2", body=b"hi"))
    assert [conn.read().body for _ in range(3)] == [b"slow", b"/a", b"hi"]
    # Each request reaches the app once the answer before it is complete ("end" follows the last write).
    assert events[:5] == ["start /slow", "end /slow", "start /a", "end /a", "start /echo"]


def test_chunked_response_when_the_app_gives_no_length(conn: Conn) -> None:
    conn.send(request("GET", "/chunked"), request("GET", "/after"))
    head = b""
    while b"0\r\n\r\n" not in head:
        head += conn.sock.recv(65536)
    status_and_headers, chunks = head.split(b"\r\n\r\n", 1)
    assert b"transfer-encoding: chunked" in status_and_headers
    assert chunks.startswith(b"2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n")
    conn.buffer = chunks.removeprefix(b"2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n")
    assert conn.read().body == b"/after"


@pytest.mark.parametrize("path", ["/raise", "/nothing", "/bad-header"])
def test_app_failing_before_its_answer_is_a_500_that_tells_nothing(conn: Conn, path: str) -> None:
    conn.send(request("GET", path))
    reply = conn.read()
    assert (reply.status, reply.body) == (500, b"Internal Server Error")
    assert reply.header("connection") == "close"
    assert reply.header("x-bad") is None
    assert conn.closed()


def test_app_failing_midway_closes_the_connection_short(conn: Conn) -> None:
    conn.send(request("GET", "/raise-midway"), request("GET", "/behind"))  # never answered: no framing left
    received = b""
    while chunk := conn.sock.recv(65536):
        received += chunk
    head, body = received.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200") and body == b"12345"  # 5 of the 10 announced: visibly short


@pytest.mark.parametrize(
    "raw", [b"GARBAGE\r\n\r\n", b"GET /\x00 HTTP/1.1\r\nHost: e\r\n\r\n", b"GET / HTTP/1.1\r\nA\r\n\r\n"]
)
def test_unparseable_request_is_400_then_closed(conn: Conn, raw: bytes) -> None:
    conn.send(raw)
    reply = conn.read()
    assert reply.status == 400
    assert reply.header("connection") == "close"
    assert conn.closed()


def test_bad_request_behind_a_good_one_answers_the_good_one_then_closes(conn: Conn) -> None:
    conn.send(request("GET", "/slow") + b"GARBAGE\r\n\r\n")
    reply = conn.read()
    assert (reply.status, reply.body) == (200, b"slow")
    assert reply.header("connection") == "close"
    assert conn.closed()


def test_malformed_body_closes_the_connection_without_an_answer(conn: Conn) -> None:
    conn.send(request("POST", "/echo", "Transfer-Encoding: chunked") + b"3\r\nabc\r\nZZ\r\n")
    assert conn.closed()


def test_not_modified_keeps_its_content_length_and_sends_no_body(conn: Conn) -> None:
    conn.send(request("GET", "/not-modified"), request("GET", "/after"))
    reply = conn.read()
    assert (reply.status, reply.header("content-length")) == (304, "10")
    assert conn.read().body == b"/after"


def test_graceful_shutdown_closes_idle_connections(server: LoopbackServer) -> None:
    conn = Conn(server.url)
    try:
        conn.send(request("GET", "/a"))
        assert conn.read().body == b"/a"
        server.stop()
        assert conn.closed()
    finally:
        conn.close()


def test_upgrade_is_not_offered(conn: Conn) -> None:
    conn.send(request("GET", "/ws", "Connection: Upgrade", "Upgrade: websocket"))
    reply = conn.read()
    assert (reply.status, reply.body) == (200, b"/ws")
    assert reply.header("connection") == "close"
    assert conn.closed()


# On an in-memory transport: what the transport tells the protocol, when.


class MemoryTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = False
        self.reading = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def writelines(self, data: Any) -> None:
        for piece in data:
            self.write(piece)

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("10.1.1.1", 5555), "sockname": ("127.0.0.1", 80)}.get(name, default)


def connect(asgi: Any, **options: Any) -> tuple[EdgeProtocol, MemoryTransport, ServerState]:
    config = uvicorn.Config(asgi, proxy_headers=False, lifespan="off", **options)
    state = ServerState()
    protocol = edge_protocol(None)(config=config, server_state=state, app_state={})
    transport = MemoryTransport()
    protocol.connection_made(transport)
    return protocol, transport, state


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.mark.anyio
async def test_writes_wait_while_the_transport_pauses_writing() -> None:
    sent: list[int] = []

    async def big(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"3")]})
        sent.append(1)
        for _ in range(3):
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
            sent.append(1)
        await send({"type": "http.response.body", "body": b""})

    protocol, transport, state = connect(big)
    protocol.pause_writing()
    protocol.data_received(request("GET", "/"))
    await settle()
    assert sent == [] and transport.written == b""  # held before the head
    protocol.resume_writing()
    await settle()
    assert transport.written.endswith(b"\r\n\r\nxxx")
    assert state.total_requests == 1 and not state.tasks


@pytest.mark.anyio
async def test_client_leaving_is_a_disconnect_to_the_app() -> None:
    received: list[Message] = []

    async def waits(scope: Scope, receive: Receive, send: Send) -> None:
        received.append(await receive())
        received.append(await receive())

    protocol, transport, state = connect(waits)
    protocol.data_received(request("POST", "/", "Content-Length: 4", body=b"ab"))
    await settle()
    protocol.connection_lost(None)
    await settle()
    assert received == [
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.disconnect"},
    ]
    assert not state.connections and not state.tasks


@pytest.mark.anyio
async def test_keep_alive_timer_closes_an_idle_connection() -> None:
    protocol, transport, _ = connect(app)
    protocol.keep_alive_seconds = 0.0
    protocol.data_received(request("GET", "/a"))
    await settle()
    assert transport.written.endswith(b"/a") and transport.closing


@pytest.mark.anyio
async def test_past_the_concurrency_limit_is_503() -> None:
    protocol, transport, state = connect(app, limit_concurrency=2)
    protocol.data_received(request("GET", "/a"))
    await settle()
    assert transport.written.endswith(b"/a")
    state.connections.add(object())  # another client
    protocol.data_received(request("GET", "/b"))
    await settle()
    assert b"HTTP/1.1 503 " in transport.written and transport.closing
