"""The origin fails or hangs: cached objects keep being served (stale-if-error), uncached ones fail fast
with 502/504, the origin sees a bounded request rate (circuit breaker), and service recovers alone."""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from cdn_edge.app import create_app as create_edge
from tests.cdn_edge.conftest import serving
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

BREAKER = {"breaker_failure_threshold": 3, "breaker_cooldown_seconds": 1.0, "upstream_read_timeout": 2.0}


def _get(url: str, **kw: object) -> httpx.Response:
    return httpx.get(url, timeout=30, **kw)  # type: ignore[arg-type]


async def _storm(edge: str, seconds: float) -> list[httpx.Response]:
    """Clients keep asking for objects nobody has cached, as fast as answers come."""
    responses: list[httpx.Response] = []
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=30) as client:
        n = 0
        while time.monotonic() < deadline:
            batch = [client.get(f"{edge}/{ASSET}/720p/seg_{n + i:05d}.m4s") for i in range(10)]
            responses += await asyncio.gather(*batch)
            n += 10
    return responses


def test_origin_down_and_back(tmp_path: Path) -> None:
    origin = Instrumented(make_origin(tmp_path, vod_playlist_max_age=1, stale_while_revalidate=0))
    with ExitStack() as stack:
        o = stack.enter_context(serving(origin))
        shield = stack.enter_context(
            serving(create_edge(edge_settings(tmp_path, "shield", "shield", o.url, **BREAKER)))
        )
        edge = stack.enter_context(serving(create_edge(edge_settings(tmp_path, "edge", "edge", shield.url, **BREAKER))))
        assert _get(f"{edge.url}/{SEGMENT}").content == SEGMENT_BYTES
        assert _get(f"{edge.url}/{PLAYLIST}").content == MEDIA_PLAYLIST

        # A hanging origin: an uncached object gets 504 (or 502) within the configured timeouts.
        origin.mode = "hang"
        started = time.monotonic()
        hung = _get(f"{edge.url}/{ASSET}/360p/seg_00002.m4s")
        assert hung.status_code in (502, 504)
        assert time.monotonic() - started < 6
        assert hung.headers["access-control-allow-origin"] == "*"

        # A failing origin.
        origin.mode = "error"
        time.sleep(1.2)  # the playlist is now stale everywhere
        stale = _get(f"{edge.url}/{PLAYLIST}")
        assert (stale.status_code, stale.content) == (200, MEDIA_PLAYLIST)
        assert "stale-if-error" in stale.headers["cache-status"]
        assert _get(f"{edge.url}/{SEGMENT}").content == SEGMENT_BYTES  # immutable and cached

        before = origin.total
        responses = asyncio.run(_storm(edge.url, 3.0))
        reached = origin.total - before
        assert {r.status_code for r in responses} <= {502, 504}
        assert len(responses) >= 50
        # Before the breakers learn, one concurrent batch (10) gets through; then they open after 3
        # failures and let one probe per second through: a handful in 3 s, not one per request.
        assert reached <= 10 + 3 + 4, f"{reached} origin requests for {len(responses)} client requests"

        # Back up: the breakers' probes find it and traffic flows again without intervention.
        origin.mode = "up"
        deadline = time.monotonic() + 15
        while True:
            r = _get(f"{edge.url}/{ASSET}/360p/seg_00002.m4s")
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert (r.status_code, r.content) == (200, SEGMENT_BYTES[::-1])
        fresh = _get(f"{edge.url}/{PLAYLIST}")
        assert "stale-if-error" not in fresh.headers["cache-status"]


def test_unreachable_origin_fails_fast(tmp_path: Path) -> None:
    with serving(create_edge(edge_settings(tmp_path, "edge", "edge", "http://127.0.0.1:9", **BREAKER))) as edge:
        started = time.monotonic()
        statuses = [_get(f"{edge.url}/{SEGMENT}").status_code for _ in range(10)]
        assert set(statuses) == {502}
        assert time.monotonic() - started < 5
