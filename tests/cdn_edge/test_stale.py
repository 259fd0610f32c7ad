"""stale-while-revalidate (one background refresh) and negative caching, on a simulated clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from cdn_edge.app import create_app as create_edge
from tests.cdn_edge.edge_stack import MEDIA_PLAYLIST, PLAYLIST, Instrumented, ManualClock, edge_settings, make_origin

pytestmark = pytest.mark.anyio


async def _settled(edge: object) -> None:
    for _ in range(1000):  # bounded at 10 s
        if not edge.state.node.collapser.inflight:  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.01)


async def test_stale_while_revalidate_refreshes_once(tmp_path: Path) -> None:
    origin = Instrumented(make_origin(tmp_path, vod_playlist_max_age=10, stale_while_revalidate=30))
    clock = ManualClock()
    edge = create_edge(
        edge_settings(tmp_path, "edge", "edge", "http://origin"), transport=httpx.ASGITransport(app=origin), clock=clock
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url="http://e") as c:
        await c.get(f"/{PLAYLIST}")
        await _settled(edge)  # the first fill is stored
        clock.advance(15)
        responses = await asyncio.gather(*(c.get(f"/{PLAYLIST}") for _ in range(20)))
        assert all(r.content == MEDIA_PLAYLIST for r in responses)
        assert all("stale-while-revalidate" in r.headers["cache-status"] for r in responses)
        assert all(int(r.headers["age"]) == 15 for r in responses)
        await _settled(edge)  # the background refresh is done
        assert origin.counts[PLAYLIST] == 2
        again = await c.get(f"/{PLAYLIST}")
        assert again.headers["cache-status"] == "edge; hit"
        assert again.headers["age"] == "0"


async def test_not_found_is_cached_briefly(tmp_path: Path) -> None:
    origin = Instrumented(make_origin(tmp_path))
    clock = ManualClock()
    edge = create_edge(
        edge_settings(tmp_path, "edge", "edge", "http://origin"), transport=httpx.ASGITransport(app=origin), clock=clock
    )
    missing = "a1b2c3/360p/seg_00077.m4s"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url="http://e") as c:
        assert (await c.get(f"/{missing}")).status_code == 404
        await _settled(edge)  # the negative entry is stored
        second = await c.get(f"/{missing}")
        assert (second.status_code, second.headers["cache-status"]) == (404, "edge; hit")
        assert origin.counts[missing] == 1
        clock.advance(3)
        assert (await c.get(f"/{missing}")).status_code == 404
        assert origin.counts[missing] == 2


async def test_a_failed_fetch_is_shared_and_not_cached(tmp_path: Path) -> None:
    origin = Instrumented(make_origin(tmp_path))
    origin.mode = "error"
    edge = create_edge(
        edge_settings(tmp_path, "edge", "edge", "http://origin"), transport=httpx.ASGITransport(app=origin)
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url="http://e") as c:
        failed = await asyncio.gather(*(c.get(f"/{PLAYLIST}") for _ in range(50)))
        assert {r.status_code for r in failed} == {502}
        assert origin.counts[PLAYLIST] == 1
        origin.mode = "up"
        ok = await c.get(f"/{PLAYLIST}")
        assert (ok.status_code, ok.content) == (200, MEDIA_PLAYLIST)
        assert origin.counts[PLAYLIST] == 2
