"""Fresh memory hits answered by the HTTP protocol (cdn_edge.protocol), over real sockets: the same
response as the general path, HTTP/1.1's connection rules kept (keep-alive, pipelining, Connection:
close, HTTP/1.0, HEAD), and every request that is not such a hit left to the app (the bridge to it:
test_protocol_app.py)."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from cdn_edge.app import create_app as create_edge
from cdn_edge.app import server_options
from cdn_edge.fastpath import FreshHits
from playback.signing import sign_token
from tests.cdn_edge.conftest import LoopbackServer, serving
from tests.cdn_edge.edge_stack import (
    ASSET,
    MEDIA_PLAYLIST,
    PLAYLIST,
    SEGMENT,
    SEGMENT_BYTES,
    Instrumented,
    edge_settings,
    make_origin,
)
from tests.cdn_edge.test_metrics import scrape, value

SEGMENT_2 = f"{ASSET}/360p/seg_00002.m4s"
SECRET = "playback-secret"


@dataclass
class Edge:
    app: FastAPI
    server: LoopbackServer
    origin: Instrumented
    clock: list[float]  # the node's clock reads clock[0]

    @property
    def hits(self) -> FreshHits:
        hits: FreshHits = self.app.state.hits
        return hits

    def warm(self, key: str) -> None:
        """Fetch `key` until the memory tier holds it (the store completes after the miss is answered)."""
        for _ in range(200):
            if key in self.app.state.node.cache.memory.entries:
                return
            httpx.get(f"{self.server.url}/{key}").raise_for_status()
            time.sleep(0.01)
        raise AssertionError(f"{key} never reached the memory tier")


def _edge(tmp_path: Path, loop: str, access: str = "public", **settings: object) -> Iterator[Edge]:
    origin = Instrumented(make_origin(tmp_path, access=access))
    clock = [time.time()]
    with ExitStack() as stack:
        o = stack.enter_context(serving(origin))
        app = create_edge(edge_settings(tmp_path, "edge", "edge", o.url, **settings), clock=lambda: clock[0])
        server = stack.enter_context(serving(app, loop=loop, timeout_keep_alive=1))
        yield Edge(app, server, origin, clock)


@pytest.fixture(params=["uvloop", "asyncio"])
def edge(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Edge]:
    yield from _edge(tmp_path, request.param)


@pytest.fixture
def signing_edge(tmp_path: Path) -> Iterator[Edge]:
    yield from _edge(tmp_path, "uvloop", "signed", signing_secret=SECRET)


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name]
        return values[0] if values else None


class Conn:
    """A raw HTTP/1.1 client connection: requests written as given, responses read in order."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.buffer = b""

    def send(self, *requests: bytes) -> None:
        self.sock.sendall(b"".join(requests))

    def _fill(self) -> None:
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("closed by the server")
        self.buffer += data

    def read(self, head_only: bool = False) -> Reply:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = [(k.lower(), v.strip()) for k, v in (line.split(":", 1) for line in lines)]
        reply = Reply(int(status_line.split()[1]), headers, b"")
        length = 0 if head_only or reply.status == 304 else int(reply.header("content-length") or 0)
        while len(self.buffer) < length:
            self._fill()
        reply.body, self.buffer = self.buffer[:length], self.buffer[length:]
        return reply

    def closed(self) -> bool:
        """True once the server has closed the connection (and sent nothing more)."""
        data = self.sock.recv(1 << 16)
        assert not data and not self.buffer, "bytes after the last response"
        return True

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def connect(edge: Edge) -> Iterator[Callable[[], Conn]]:
    opened: list[Conn] = []

    def open_conn() -> Conn:
        opened.append(Conn(edge.server.url))
        return opened[-1]

    yield open_conn
    for conn in opened:
        conn.close()


def get(key: str, *extra: str, method: str = "GET", version: str = "1.1") -> bytes:
    lines = [f"{method} /{key} HTTP/{version}", "Host: edge", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


PER_REQUEST = {"date", "age"}


def comparable(reply: Reply) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in reply.headers if k not in PER_REQUEST)


@pytest.mark.parametrize(("key", "body"), [(PLAYLIST, MEDIA_PLAYLIST), (SEGMENT, SEGMENT_BYTES)])
def test_fresh_hit_answered_by_protocol_as_the_general_path_would(
    edge: Edge, connect: Callable[[], Conn], key: str, body: bytes
) -> None:
    edge.warm(key)
    conn = connect()
    direct = edge.hits.direct
    conn.send(get(key))
    fast = conn.read()
    assert edge.hits.direct == direct + 1
    # A validator that does not match: the general handler, and the same full answer.
    conn.send(get(key, 'If-None-Match: "something-else"'))
    general = conn.read()
    assert edge.hits.direct == direct + 1
    assert (fast.status, fast.body) == (general.status, general.body) == (200, body)
    assert comparable(fast) == comparable(general)
    assert fast.header("cache-status") == "edge; hit"
    assert fast.header("content-length") == str(len(body))
    assert fast.header("access-control-allow-origin") == "*"
    assert {"date", "server", "age", "etag", "content-type", "cache-control"} <= {k for k, _ in fast.headers}
    assert len(fast.headers) == len({k for k, _ in fast.headers})  # no header twice


def test_age_counts_per_request(edge: Edge, connect: Callable[[], Conn]) -> None:
    edge.warm(PLAYLIST)
    conn = connect()
    conn.send(get(PLAYLIST))
    first = int(conn.read().header("age") or -1)
    edge.clock[0] += 7
    conn.send(get(PLAYLIST))
    assert int(conn.read().header("age") or -1) == first + 7


def test_keep_alive_and_pipelining(edge: Edge, connect: Callable[[], Conn]) -> None:
    edge.warm(PLAYLIST)
    edge.warm(SEGMENT)
    conn = connect()
    state = edge.server.server.server_state
    total, direct = state.total_requests, edge.hits.direct
    for key, body in [(PLAYLIST, MEDIA_PLAYLIST), (SEGMENT, SEGMENT_BYTES), (PLAYLIST, MEDIA_PLAYLIST)]:
        conn.send(get(key))
        reply = conn.read()
        assert (reply.status, reply.body) == (200, body)
    assert edge.hits.direct == direct + 3
    # Hit, miss, hit in one write: the miss goes to the app, and the hit behind it waits for it.
    conn.send(get(PLAYLIST), get(SEGMENT_2), get(SEGMENT))
    replies = [conn.read() for _ in range(3)]
    expected = [(200, MEDIA_PLAYLIST), (200, SEGMENT_BYTES[::-1]), (200, SEGMENT_BYTES)]
    assert [(r.status, r.body) for r in replies] == expected
    assert replies[0].header("cache-status") == "edge; hit"
    assert (replies[1].header("cache-status") or "").startswith("edge; fwd=miss")
    assert replies[2].header("cache-status") == "edge; hit"
    assert edge.hits.direct >= direct + 4
    conn.send(get(PLAYLIST))  # still open and in order
    assert conn.read().body == MEDIA_PLAYLIST
    deadline = time.monotonic() + 60  # uvicorn counts a request once its answer is written
    while state.total_requests < total + 7 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert state.total_requests == total + 7


def test_keep_alive_timeout_after_a_direct_answer(edge: Edge, connect: Callable[[], Conn]) -> None:
    edge.warm(PLAYLIST)
    conn = connect()
    conn.send(get(PLAYLIST))
    assert conn.read().status == 200
    started = time.monotonic()
    assert conn.closed()  # timeout_keep_alive=1
    assert 0.5 < time.monotonic() - started < 5


def test_slow_request_behind_a_direct_answer_outlives_the_keep_alive_timer(
    edge: Edge, connect: Callable[[], Conn]
) -> None:
    edge.warm(PLAYLIST)
    edge.origin.delay = 1.5  # longer than timeout_keep_alive
    conn = connect()
    conn.send(get(PLAYLIST), get(SEGMENT_2))
    assert conn.read().body == MEDIA_PLAYLIST
    assert conn.read().body == SEGMENT_BYTES[::-1]


@pytest.mark.parametrize(
    "request_bytes",
    [
        get(PLAYLIST, "Connection: close"),
        get(PLAYLIST, version="1.0"),
        get(PLAYLIST, "Connection: keep-alive", version="1.0"),
    ],
    ids=["connection-close", "http-1.0", "http-1.0-keep-alive"],
)
def test_closing_requests_get_the_body_then_eof(edge: Edge, connect: Callable[[], Conn], request_bytes: bytes) -> None:
    edge.warm(PLAYLIST)
    conn = connect()
    direct = edge.hits.direct
    conn.send(request_bytes)
    reply = conn.read()
    assert (reply.status, reply.body) == (200, MEDIA_PLAYLIST)
    assert reply.header("connection") == "close"
    assert conn.closed()
    assert edge.hits.direct == direct + 1


def test_head_has_length_and_no_body(edge: Edge, connect: Callable[[], Conn]) -> None:
    edge.warm(SEGMENT)
    conn = connect()
    direct = edge.hits.direct
    conn.send(get(SEGMENT, method="HEAD"), get(PLAYLIST, method="HEAD"))
    head = conn.read(head_only=True)
    assert (head.status, head.header("content-length")) == (200, str(len(SEGMENT_BYTES)))
    assert conn.read(head_only=True).status == 200  # the playlist: a miss, through the app
    conn.send(get(SEGMENT))  # parses as the next response: no body bytes came after either head
    assert conn.read().body == SEGMENT_BYTES
    assert edge.hits.direct == direct + 2


@pytest.mark.parametrize(
    ("header", "body"),
    [("Content-Length: 5", b"hello"), ("Transfer-Encoding: chunked", b"5\r\nhello\r\n0\r\n\r\n")],
    ids=["content-length", "chunked"],
)
def test_request_body_of_a_direct_answer_is_read_past(
    edge: Edge, connect: Callable[[], Conn], header: str, body: bytes
) -> None:
    edge.warm(PLAYLIST)
    conn = connect()
    direct = edge.hits.direct
    conn.send(get(PLAYLIST, header) + body, get(PLAYLIST))  # on_body and on_message_complete after the answer
    assert [conn.read().body for _ in range(2)] == [MEDIA_PLAYLIST, MEDIA_PLAYLIST]
    assert edge.hits.direct == direct + 2


@pytest.mark.parametrize(
    ("extra", "status", "body"),
    [
        (("Range: bytes=0-9",), 206, MEDIA_PLAYLIST[:10]),
        (("If-None-Match: {etag}",), 304, b""),
        (("If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT",), 200, MEDIA_PLAYLIST),
    ],
    ids=["range", "if-none-match", "if-modified-since"],
)
def test_ranges_and_conditionals_go_to_the_app(
    edge: Edge, connect: Callable[[], Conn], extra: tuple[str, ...], status: int, body: bytes
) -> None:
    edge.warm(PLAYLIST)
    conn = connect()
    conn.send(get(PLAYLIST))
    etag = conn.read().header("etag") or ""
    direct = edge.hits.direct
    conn.send(get(PLAYLIST, *(line.format(etag=etag) for line in extra)))
    reply = conn.read()
    assert (reply.status, reply.body) == (status, body)
    assert edge.hits.direct == direct


def test_query_string_goes_to_the_app(edge: Edge, connect: Callable[[], Conn]) -> None:
    edge.warm(PLAYLIST)
    conn = connect()
    direct = edge.hits.direct
    conn.send(get(f"{PLAYLIST}?token=whatever"))
    reply = conn.read()
    assert (reply.status, reply.body, reply.header("cache-status")) == (200, MEDIA_PLAYLIST, "edge; hit")
    assert edge.hits.direct == direct


def test_stale_entry_goes_to_the_app(edge: Edge, connect: Callable[[], Conn]) -> None:
    edge.warm(SEGMENT)
    fetched = edge.origin.counts[SEGMENT]
    edge.clock[0] += 2 * 31_536_000  # past the segment's max-age of a year
    conn = connect()
    direct = edge.hits.direct
    conn.send(get(SEGMENT))
    reply = conn.read()
    assert (reply.status, reply.body) == (200, SEGMENT_BYTES)
    assert (reply.header("cache-status") or "").startswith("edge; fwd=stale")
    assert edge.origin.counts[SEGMENT] == fetched + 1
    assert edge.hits.direct == direct


def test_private_asset_on_a_signing_edge_goes_to_the_app(signing_edge: Edge) -> None:
    edge = signing_edge
    token = sign_token(SECRET.encode(), ASSET, int(time.time()) + 300, None)
    signed = httpx.get(f"{edge.server.url}/{SEGMENT}", params={"token": token})
    assert signed.status_code == 200
    deadline = time.monotonic() + 60  # the store completes after the answer: early exit, room for a loaded machine
    while SEGMENT not in edge.app.state.node.cache.memory.entries and time.monotonic() < deadline:
        time.sleep(0.01)
    assert SEGMENT in edge.app.state.node.cache.memory.entries
    conn = Conn(edge.server.url)
    try:
        conn.send(get(SEGMENT))
        refused = conn.read()
        conn.send(get(f"{SEGMENT}?token={token}"))
        allowed = conn.read()
    finally:
        conn.close()
    assert refused.status == 403
    assert (allowed.status, allowed.body) == (200, SEGMENT_BYTES)
    assert edge.hits.direct == 0


def test_hits_counted_in_metrics(edge: Edge, connect: Callable[[], Conn]) -> None:
    edge.warm(PLAYLIST)

    def counts() -> tuple[float, float, float]:
        samples = scrape(edge.server.url)
        hit = {"node": "edge", "cache_status": "hit"}
        return (
            value(samples, "vodstack_edge_requests_total", **hit, code="2xx"),
            value(samples, "vodstack_edge_served_bytes_total", **hit),
            value(samples, "vodstack_edge_time_to_first_byte_seconds_count", **hit),
        )

    before, direct = counts(), edge.hits.direct
    conn = connect()
    conn.send(get(PLAYLIST), get(PLAYLIST, method="HEAD"))
    conn.read()
    conn.read(head_only=True)
    assert edge.hits.direct == direct + 2
    assert counts() == (before[0] + 2, before[1] + len(MEDIA_PLAYLIST), before[2] + 2)


def test_without_httptools_uvicorn_keeps_its_own_protocol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_edge(edge_settings(tmp_path, "edge", "edge", "http://127.0.0.1:9"))
    assert set(server_options(app)) == {"http"}
    monkeypatch.setitem(sys.modules, "cdn_edge.protocol", None)  # what importing it without httptools raises
    assert server_options(app) == {}
