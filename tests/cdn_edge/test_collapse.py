"""Many concurrent misses for one object, spread over three edges behind one shield, are one origin
fetch: real uvicorn servers on loopback, a real origin that counts what reaches it. The nodes share a
clock the test moves, and the origin holds its answer until every client waits on it, so what is
asserted does not depend on how fast a loaded machine runs the requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx
from starlette.applications import Starlette

from cdn_edge.app import create_app as create_edge
from tests.cdn_edge.conftest import serving
from tests.cdn_edge.edge_stack import (
    MEDIA_PLAYLIST,
    PLAYLIST,
    SEGMENT,
    SEGMENT_BYTES,
    Instrumented,
    ManualClock,
    edge_settings,
    make_origin,
)

CLIENTS = 500
# Generous upstream timeouts: the origin is held on purpose while the clients connect.
PATIENT = {"upstream_read_timeout": 120.0}


async def _burst(urls: list[str]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CLIENTS + 10, max_keepalive_connections=CLIENTS + 10)
    async with httpx.AsyncClient(limits=limits, timeout=180) as client:
        return await asyncio.gather(*(client.get(url) for url in urls))


def _topology(
    tmp_path: Path, origin: Instrumented, clock: Callable[[], float]
) -> tuple[ExitStack, list[str], list[Starlette]]:
    """origin <- shield <- 3 edges, each a real server on `clock`; the edges' URLs and apps."""
    stack = ExitStack()
    o = stack.enter_context(serving(origin))
    shield_app = create_edge(edge_settings(tmp_path, "shield", "shield", o.url, **PATIENT), clock=clock)
    shield = stack.enter_context(serving(shield_app))
    apps = [
        create_edge(edge_settings(tmp_path, f"edge{i}", "edge", shield.url, **PATIENT), clock=clock) for i in range(3)
    ]
    urls = [stack.enter_context(serving(app)).url for app in apps]
    return stack, urls, apps


def _waiting(edges: list[Starlette], key: str) -> int:
    """Requests for `key` attached to the fetch in flight, over all edges (the leaders included)."""
    fetches = [app.state.node.collapser.get(key) for app in edges]
    return sum(fetch.waiters for fetch in fetches if fetch is not None)


async def _burst_while_held(origin: Instrumented, edges: list[Starlette], urls: list[str]) -> list[httpx.Response]:
    """Send the burst with the origin holding its answer; release it once every request waits."""
    origin.mode = "hang"
    burst = asyncio.ensure_future(_burst(urls))
    for _ in range(12_000):  # bounded at 120 s
        if _waiting(edges, SEGMENT) >= len(urls) or burst.done():
            break
        await asyncio.sleep(0.01)
    origin.mode = "up"
    return await burst


def test_concurrent_misses_reach_the_origin_once(tmp_path: Path) -> None:
    origin = Instrumented(make_origin(tmp_path))
    stack, urls, apps = _topology(tmp_path, origin, ManualClock())
    with stack:
        responses = asyncio.run(_burst_while_held(origin, apps, [f"{urls[i % 3]}/{SEGMENT}" for i in range(CLIENTS)]))
    assert origin.counts[SEGMENT] == 1
    assert {r.status_code for r in responses} == {200}
    assert all(r.content == SEGMENT_BYTES for r in responses)
    # Each edge's own Cache-Status member (the last): one request per edge forwarded and stored, every
    # other one collapsed onto it; the shield forwarded one of the edges' three fetches.
    mine = [r.headers["cache-status"].split(", ")[-1] for r in responses]
    assert sum(m.startswith("edge0; fwd=miss") and m.endswith("stored") for m in mine) == 1
    assert sum(m.endswith("stored") for m in mine) == 3
    assert sum(m.endswith("collapsed") for m in mine) == CLIENTS - 3
    shields = [
        r.headers["cache-status"].split(", ")[-2] for r in responses if r.headers["cache-status"].endswith("stored")
    ]
    assert sorted(s.startswith("shield; fwd=miss") and s.endswith("stored") for s in shields) == [False, False, True]


def test_expired_object_is_refreshed_once(tmp_path: Path) -> None:
    origin = Instrumented(make_origin(tmp_path, vod_playlist_max_age=10, stale_while_revalidate=0))
    clock = ManualClock()
    stack, urls, _ = _topology(tmp_path, origin, clock)
    with stack:
        primed = asyncio.run(_burst([f"{e}/{PLAYLIST}" for e in urls]))
        assert origin.counts[PLAYLIST] == 1
        assert all(r.content == MEDIA_PLAYLIST for r in primed)
        clock.advance(11)  # every tier's copy has expired
        responses = asyncio.run(_burst([f"{urls[i % 3]}/{PLAYLIST}" for i in range(CLIENTS)]))
    assert origin.counts[PLAYLIST] == 2
    assert {r.status_code for r in responses} == {200}
    assert all(r.content == MEDIA_PLAYLIST for r in responses)
