"""Many concurrent misses for one object, spread over three edges behind one shield, are one origin
fetch: real uvicorn servers on loopback, a real origin that counts what reaches it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from cdn_edge.app import create_app as create_edge
from tests.cdn_edge.conftest import serving
from tests.cdn_edge.edge_stack import (
    MEDIA_PLAYLIST,
    PLAYLIST,
    SEGMENT,
    SEGMENT_BYTES,
    Instrumented,
    edge_settings,
    make_origin,
)

CLIENTS = 500


async def _burst(urls: list[str]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CLIENTS + 10, max_keepalive_connections=CLIENTS + 10)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        return await asyncio.gather(*(client.get(url) for url in urls))


def _topology(tmp_path: Path, origin: Instrumented):  # type: ignore[no-untyped-def]
    """origin <- shield <- 3 edges, each a real server; yields the edges' URLs."""
    from contextlib import ExitStack

    stack = ExitStack()
    o = stack.enter_context(serving(origin))
    shield = stack.enter_context(serving(create_edge(edge_settings(tmp_path, "shield", "shield", o.url))))
    edges = [
        stack.enter_context(serving(create_edge(edge_settings(tmp_path, f"edge{i}", "edge", shield.url))))
        for i in range(3)
    ]
    return stack, [e.url for e in edges]


@pytest.mark.parametrize("origin_delay", [0.0, 10.0])
def test_concurrent_misses_reach_the_origin_once(tmp_path: Path, origin_delay: float) -> None:
    origin = Instrumented(make_origin(tmp_path))
    origin.delay = origin_delay
    stack, edges = _topology(tmp_path, origin)
    with stack:
        responses = asyncio.run(_burst([f"{edges[i % 3]}/{SEGMENT}" for i in range(CLIENTS)]))
    assert origin.counts[SEGMENT] == 1
    assert {r.status_code for r in responses} == {200}
    assert all(r.content == SEGMENT_BYTES for r in responses)
    # Each edge's own Cache-Status member (the last): one request forwarded and stored, the others
    # collapsed onto it (or, arriving after it completed, hits).
    mine = [r.headers["cache-status"].split(", ")[-1] for r in responses]
    assert sum(m.startswith("edge0; fwd=miss") and m.endswith("stored") for m in mine) == 1
    assert sum(m.endswith("stored") for m in mine) == 3
    assert sum(m.endswith("collapsed") for m in mine) > 0


def test_expired_object_is_refreshed_once(tmp_path: Path) -> None:
    origin = Instrumented(make_origin(tmp_path, vod_playlist_max_age=1, stale_while_revalidate=0))
    stack, edges = _topology(tmp_path, origin)
    with stack:
        primed = asyncio.run(_burst([f"{e}/{PLAYLIST}" for e in edges]))
        assert origin.counts[PLAYLIST] == 1
        assert all(r.content == MEDIA_PLAYLIST for r in primed)
        time.sleep(1.5)  # let every tier's copy expire
        responses = asyncio.run(_burst([f"{edges[i % 3]}/{PLAYLIST}" for i in range(CLIENTS)]))
    assert origin.counts[PLAYLIST] == 2
    assert {r.status_code for r in responses} == {200}
    assert all(r.content == MEDIA_PLAYLIST for r in responses)
