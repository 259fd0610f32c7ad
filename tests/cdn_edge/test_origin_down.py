"""The origin fails or hangs: cached objects keep being served (stale-if-error), uncached ones fail fast
with 502/504, the origin sees a bounded request rate (circuit breaker), and service recovers alone.

The nodes share a clock the test moves (freshness and breaker cool-downs); only the upstream timeouts
are real, and the tests assert what the clients get, not how long it took."""

from __future__ import annotations

import asyncio
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
    ManualClock,
    edge_settings,
    make_origin,
)

BREAKER = {"breaker_failure_threshold": 3, "breaker_cooldown_seconds": 1.0, "upstream_read_timeout": 2.0}


def _get(url: str, **kw: object) -> httpx.Response:
    # Well past the nodes' own 2 s upstream timeouts: an answer means a node gave up, not the client.
    return httpx.get(url, timeout=60, **kw)  # type: ignore[arg-type]


async def _storm(edge: str, clock: ManualClock, batches: int, step: float) -> list[httpx.Response]:
    """Clients keep asking for objects nobody has cached, 10 at a time, `step` seconds apart."""
    responses: list[httpx.Response] = []
    async with httpx.AsyncClient(timeout=60) as client:
        for n in range(0, 10 * batches, 10):
            batch = [client.get(f"{edge}/{ASSET}/720p/seg_{n + i:05d}.m4s") for i in range(10)]
            responses += await asyncio.gather(*batch)
            clock.advance(step)
    return responses


def test_origin_down_and_back(tmp_path: Path) -> None:
    origin = Instrumented(make_origin(tmp_path, vod_playlist_max_age=1, stale_while_revalidate=0))
    clock = ManualClock()
    with ExitStack() as stack:
        o = stack.enter_context(serving(origin))
        shield_settings = edge_settings(tmp_path, "shield", "shield", o.url, **BREAKER)
        shield = stack.enter_context(serving(create_edge(shield_settings, clock=clock)))
        edge_app = create_edge(edge_settings(tmp_path, "edge", "edge", shield.url, **BREAKER), clock=clock)
        edge = stack.enter_context(serving(edge_app))
        assert _get(f"{edge.url}/{SEGMENT}").content == SEGMENT_BYTES
        assert _get(f"{edge.url}/{PLAYLIST}").content == MEDIA_PLAYLIST

        # A hanging origin: an uncached object gets 504 once the edge's upstream timeout passes (or 502,
        # should the shield's own 504 reach the edge first on a loaded machine).
        origin.mode = "hang"
        hung = _get(f"{edge.url}/{ASSET}/360p/seg_00002.m4s")
        assert hung.status_code in (502, 504), hung.text
        assert hung.headers["access-control-allow-origin"] == "*"

        # A failing origin.
        origin.mode = "error"
        clock.advance(1.2)  # the playlist is now stale everywhere
        stale = _get(f"{edge.url}/{PLAYLIST}")
        assert (stale.status_code, stale.content) == (200, MEDIA_PLAYLIST)
        assert "stale-if-error" in stale.headers["cache-status"]
        assert _get(f"{edge.url}/{SEGMENT}").content == SEGMENT_BYTES  # immutable and cached

        before = origin.total
        responses = asyncio.run(_storm(edge.url, clock, batches=30, step=0.1))  # 300 requests over 3 s
        reached = origin.total - before
        assert {r.status_code for r in responses} <= {502, 504}
        assert len(responses) == 300
        # Before the breakers learn, one concurrent batch (10) gets through; then they open after 3
        # failures and let one probe per second through: a handful in 3 s, not one per request.
        assert reached <= 10 + 3 + 4, f"{reached} origin requests for {len(responses)} client requests"
        assert any("detail=circuit_open" in r.headers["cache-status"] for r in responses)

        # Back up: once a cool-down has passed, the breakers' probes find it and traffic flows again
        # without intervention.
        origin.mode = "up"
        clock.advance(BREAKER["breaker_cooldown_seconds"])
        r = _get(f"{edge.url}/{ASSET}/360p/seg_00002.m4s")
        assert (r.status_code, r.content) == (200, SEGMENT_BYTES[::-1])
        fresh = _get(f"{edge.url}/{PLAYLIST}")
        assert "stale-if-error" not in fresh.headers["cache-status"]


def test_unreachable_origin_fails_fast(tmp_path: Path) -> None:
    """Refused connections are 502s, and after the breaker's threshold the edge stops even trying."""
    settings = edge_settings(tmp_path, "edge", "edge", "http://127.0.0.1:9", **BREAKER)
    with serving(create_edge(settings, clock=ManualClock())) as edge:
        answers = [_get(f"{edge.url}/{SEGMENT}") for _ in range(10)]
    assert {r.status_code for r in answers} == {502}
    details = [r.headers["cache-status"].rsplit("detail=", 1)[1] for r in answers]
    assert details == ["upstream_unavailable"] * 3 + ["circuit_open"] * 7
    assert all(r.headers["retry-after"] == "1" for r in answers[3:])
