"""Requests per client address at the edge (optional, off by default): 429 with Retry-After and the
RateLimit fields once a client's budget is spent, on every way in (the app, FastHits, and hits the
HTTP protocol answers itself), other clients untouched. Windows are an hour long and start at a
client's first request, so a slow run cannot reach the next one."""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path

import httpx
import pytest

from cdn_edge.app import create_app as create_edge
from tests.cdn_edge.conftest import serving
from tests.cdn_edge.edge_stack import PLAYLIST, SEGMENT, edge_settings, make_origin

pytestmark = pytest.mark.anyio


def _edge(tmp_path: Path, **overrides: object):  # type: ignore[no-untyped-def]
    return create_edge(
        edge_settings(tmp_path, "edge", "edge", "http://origin", **overrides),
        transport=httpx.ASGITransport(app=make_origin(tmp_path)),
    )


def _assert_refused(response: httpx.Response, budget: int) -> None:
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 3600
    assert response.headers["ratelimit-policy"] == f'"edge";q={budget};w=3600'
    assert response.headers["ratelimit"].startswith('"edge";r=0;t=')
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cache-control"] == "no-store"


async def test_per_client_budget(tmp_path: Path) -> None:
    edge = _edge(tmp_path, rate_limit_per_client="5/hour")

    def client(address: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=edge, client=(address, 4000)), base_url="http://e")

    async with client("203.0.113.7") as a, client("198.51.100.9") as b:
        answers = [await a.get(f"/{SEGMENT}") for _ in range(8)]  # a miss, then memory hits (FastHits)
        assert [r.status_code for r in answers] == [200] * 5 + [429] * 3
        _assert_refused(answers[-1], 5)
        assert (await a.get("/healthz")).status_code == 200  # not counted, never refused
        assert (await b.get(f"/{SEGMENT}")).status_code == 200
    await edge.state.upstream.aclose()


async def test_off_by_default(tmp_path: Path) -> None:
    edge = _edge(tmp_path)
    assert edge.state.hits.budget is None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url="http://e") as c:
        assert {(await c.get(f"/{PLAYLIST}")).status_code for _ in range(50)} == {200}
    await edge.state.upstream.aclose()


def _get(port: int, path: str, forwarded: str | None = None) -> tuple[int, bytes]:
    extra = f"X-Forwarded-For: {forwarded}\r\n" if forwarded else ""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: edge\r\n{extra}Connection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


def test_hits_answered_by_the_protocol_spend_the_budget(tmp_path: Path) -> None:
    budget = 30
    edge = _edge(tmp_path, rate_limit_per_client=f"{budget}/hour", trusted_proxies=["127.0.0.1/32"])
    with serving(edge) as server:
        statuses = Counter(_get(server.port, f"/{PLAYLIST}", "203.0.113.7")[0] for _ in range(budget + 10))
        assert statuses == {200: budget, 429: 10}
        assert edge.state.hits.direct > 0  # most of those 200s never reached the app
        status, answer = _get(server.port, f"/{PLAYLIST}", "203.0.113.7")
        assert status == 429 and b"retry-after: " in answer.lower()
        # Another client behind the same trusted proxy has a budget of its own, hits included.
        direct = edge.state.hits.direct
        assert _get(server.port, f"/{PLAYLIST}", "198.51.100.9")[0] == 200
        assert edge.state.hits.direct == direct + 1
        # A spoofed leftmost entry does not change who the client is.
        assert _get(server.port, f"/{PLAYLIST}", "198.51.100.9, 203.0.113.7")[0] == 429
