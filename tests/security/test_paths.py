"""Paths an attacker sends: too long, badly percent-encoded, NUL, control characters, traversal. Origin
and edge answer 4xx with a short reason and look nothing up; the edge never sends them upstream, so a
flood of them leaves its breaker closed and everyone else served. Over ASGI (exact raw paths, no
client normalising them) and over real sockets (the edge's hit protocol, cdn_edge/protocol.py)."""

from __future__ import annotations

import asyncio
import errno
import socket
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from cdn_edge.app import create_app as create_edge
from cdn_edge.breaker import BreakerState
from origin.app import create_app as create_origin
from storage.filesystem import FilesystemObjectStore
from storage.objects import ObjectInfo
from tests.cdn_edge.conftest import serving
from tests.cdn_edge.edge_stack import (
    ASSET,
    PLAYLIST,
    SEGMENT,
    SEGMENT_BYTES,
    Instrumented,
    edge_settings,
    origin_settings,
    publish,
)

pytestmark = pytest.mark.anyio

BAD_PATHS: list[tuple[bytes, int]] = [
    (b"/" + b"a" * 300, 414),
    (f"/{ASSET}/360p/".encode() + b"s" * 300 + b".m4s", 414),
    (b"/" + b"ab/" * 400 + b"c", 414),
    (f"/{ASSET}/360p/seg_00001.m4s%00".encode(), 400),
    (f"/{ASSET}/360p/seg%ZZ.m4s".encode(), 400),
    (f"/{ASSET}/360p/%ff%fe.m4s".encode(), 400),
    (f"/{ASSET}/360p/seg%0d%0aX-Injected:%201.m4s".encode(), 400),
    (f"/{ASSET}/%2e%2e/%2e%2e/etc/passwd".encode(), 400),
    (f"/{ASSET}/360p/..%5c..%5cmaster.m3u8".encode(), 400),
    (f"/{ASSET}//master.m3u8".encode(), 400),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def asgi_get(app: Any, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """GET `raw` exactly as sent (an HTTP client would normalise or re-encode it), as uvicorn builds it."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": unquote(raw.decode("latin-1")), "raw_path": raw, "query_string": b"",
        "root_path": "", "headers": [(b"host", b"test")], "client": ("10.0.0.1", 4000), "server": ("test", 80),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []
    requested = False
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if requested:  # the client stays connected: a response listening for a disconnect waits
            await never.wait()
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    head = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return head["status"], {k.decode(): v.decode() for k, v in head["headers"]}, body


class RecordingStore(FilesystemObjectStore):
    """The real filesystem store, recording every key the origin asks it about."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.asked: list[str] = []

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        self.asked.append(key)
        return super().stat(bucket, key)


@pytest.mark.parametrize(("raw", "status"), BAD_PATHS)
async def test_origin_refuses_bad_paths_without_looking(tmp_path: Path, raw: bytes, status: int) -> None:
    publish(tmp_path)
    store = RecordingStore(tmp_path)
    app = create_origin(origin_settings(tmp_path), store=store)
    code, headers, body = await asgi_get(app, raw)
    assert code == status, body
    assert headers["cache-control"] == "no-store"
    assert len(body) < 120 and b"error" in body
    assert store.asked == []
    assert (await asgi_get(app, f"/{SEGMENT}".encode()))[0] == 200


async def test_origin_turns_a_name_the_store_refuses_into_4xx(tmp_path: Path) -> None:
    class ShortNames(FilesystemObjectStore):
        def stat(self, bucket: str, key: str) -> ObjectInfo:
            raise OSError(errno.ENAMETOOLONG, "File name too long")

    publish(tmp_path)
    app = create_origin(origin_settings(tmp_path), store=ShortNames(tmp_path))
    assert (await asgi_get(app, f"/{SEGMENT}".encode()))[0] == 414
    # A key one level below a file: ENOTDIR from the filesystem, a 404 to the client.
    app = create_origin(origin_settings(tmp_path), store=FilesystemObjectStore(tmp_path))
    assert (await asgi_get(app, f"/{SEGMENT}/x.m4s".encode()))[0] == 404


async def test_edge_flood_of_bad_paths_leaves_the_breaker_closed(tmp_path: Path) -> None:
    origin = Instrumented(create_origin(origin_settings(tmp_path), store=publish(tmp_path)))
    settings = edge_settings(tmp_path, "edge", "edge", "http://origin", breaker_failure_threshold=5)
    edge = create_edge(settings, transport=httpx.ASGITransport(app=origin))
    try:
        for i in range(100):
            raw, status = BAD_PATHS[i % len(BAD_PATHS)]
            code, headers, body = await asgi_get(edge, raw)
            assert code == status, body
            assert headers["cache-control"] == "no-store"
        assert origin.total == 0  # none of them went upstream
        assert edge.state.upstream.breaker.state is BreakerState.CLOSED
        # Objects never fetched before are still served.
        code, _, body = await asgi_get(edge, f"/{SEGMENT}".encode())
        assert (code, body) == (200, SEGMENT_BYTES)
        assert (await asgi_get(edge, f"/{PLAYLIST}".encode()))[0] == 200
    finally:
        await edge.state.upstream.aclose()


def _raw_get(port: int, target: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def test_edge_hit_protocol_refuses_bad_paths(tmp_path: Path) -> None:
    """Over a real socket, where fresh memory hits are answered by the HTTP protocol itself: bad paths
    next to a cached object are refused, the cached object still answered directly."""
    origin = Instrumented(create_origin(origin_settings(tmp_path), store=publish(tmp_path)))
    edge = create_edge(
        edge_settings(tmp_path, "edge", "edge", "http://origin"), transport=httpx.ASGITransport(app=origin)
    )
    with serving(edge) as server:
        for _ in range(50):
            httpx.get(f"{server.url}/{PLAYLIST}").raise_for_status()
            if PLAYLIST in edge.state.node.cache.memory.entries:
                break
        fetched = origin.total
        direct = edge.state.hits.direct
        targets = [raw for raw, _ in BAD_PATHS] + [
            f"/{PLAYLIST}%00".encode(),
            f"/{ASSET}/360p/./index.m3u8".encode(),
            f"/{ASSET}/360p/../360p/index.m3u8".encode(),
            f"/{PLAYLIST}\x00".encode(),  # a raw NUL: uvicorn's parser refuses the request line
        ]
        for i in range(100):
            target = targets[i % len(targets)]
            status = _raw_get(server.port, target)
            assert 400 <= status < 500, (target, status)
        assert origin.total == fetched
        assert edge.state.upstream.breaker.state is BreakerState.CLOSED
        assert _raw_get(server.port, f"/{PLAYLIST}".encode()) == 200
        assert edge.state.hits.direct == direct + 1
        assert _raw_get(server.port, f"/{ASSET}/360p/seg_00002.m4s".encode()) == 200


@pytest.mark.parametrize(
    ("upstream_status", "opens"), [(400, False), (403, False), (404, False), (414, False), (500, True)]
)
async def test_breaker_counts_upstream_failures_only(tmp_path: Path, upstream_status: int, opens: bool) -> None:
    """Whatever an upstream answers 4xx was the request's fault, not the upstream's: the breaker opens
    on 5xx (and connect errors, timeouts: tests/cdn_edge/test_origin_down.py), never on those."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = b'{"error": "x"}'
        headers = {"cache-control": "no-store", "content-length": str(len(body))}
        return httpx.Response(upstream_status, headers=headers, stream=httpx.ByteStream(body))

    settings = edge_settings(tmp_path, "edge", "edge", "http://origin", breaker_failure_threshold=5)
    edge = create_edge(settings, transport=httpx.MockTransport(answer))
    try:
        for i in range(20):
            code, _, _ = await asgi_get(edge, f"/{ASSET}/360p/seg_{i:05d}.m4s".encode())
            assert code == (502 if opens else upstream_status)
        expected = BreakerState.OPEN if opens else BreakerState.CLOSED
        assert edge.state.upstream.breaker.state is expected
    finally:
        await edge.state.upstream.aclose()
