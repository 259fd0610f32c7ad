"""Fills with bounded memory: objects not bound for the memory tier go through a file beside the disk
tier (collapsed, ranges served while it arrives), the disk tier takes the file over; bodies no tier
keeps leave nothing behind; fills are bounded in number; the event loop never waits for the disk
tier's lock."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cdn_edge.app import create_app as create_edge
from cdn_edge.spool import MAX_PENDING
from tests.cdn_edge.conftest import serving
from tests.cdn_edge.edge_stack import edge_settings
from tests.cdn_edge.generated_upstream import BLOCK, Generated, body

pytestmark = pytest.mark.anyio

SIZE = 3 * 1024 * 1024 + 17
KEY = f"gen/{SIZE}/a.bin"
SMALL_OBJECTS = 64 * 1024  # the memory tier's per-object limit in these tests


def _edge_app(tmp_path: Path, upstream: Generated, **overrides: object) -> FastAPI:
    settings = edge_settings(tmp_path, "edge", "edge", "http://up", memory_max_object_bytes=SMALL_OBJECTS, **overrides)
    return create_edge(settings, transport=httpx.ASGITransport(app=upstream.app))


def _edge(tmp_path: Path, upstream: Generated, **overrides: object) -> httpx.AsyncClient:
    app = _edge_app(tmp_path, upstream, **overrides)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e")


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


async def test_a_large_fill_is_collapsed_ranged_and_taken_over_by_the_disk_tier(tmp_path: Path) -> None:
    upstream = Generated()
    expected = body(SIZE)
    ranges = [None, (0, 99), (100, 200), (MAX_PENDING - 1, MAX_PENDING + 1), (SIZE - 10, None)]
    async with _edge(tmp_path, upstream) as c:

        async def get(span: tuple[int, int | None] | None) -> httpx.Response:
            if span is None:
                return await c.get(f"/{KEY}")
            lo, hi = span
            return await c.get(f"/{KEY}", headers={"range": f"bytes={lo}-{'' if hi is None else hi}"})

        answers = await asyncio.gather(*(get(ranges[i % len(ranges)]) for i in range(20)))
        for i, answer in enumerate(answers):
            span = ranges[i % len(ranges)]
            if span is None:
                assert (answer.status_code, answer.content) == (200, expected)
            else:
                lo, hi = span
                assert (answer.status_code, answer.content) == (206, expected[lo : None if hi is None else hi + 1])
        assert upstream.requests == 1
        again = await c.get(f"/{KEY}")
        assert again.content == expected and "edge; hit" in again.headers["cache-status"]
        assert upstream.requests == 1
    cache = tmp_path / "cache" / "edge"
    assert _files(cache / "fill") == []  # the spool became the disk tier's copy: renamed, not copied
    assert [p.stat().st_size for p in _files(cache) if p.suffix == ".body"] == [SIZE]


def test_waiters_read_a_spooled_body_while_it_arrives(tmp_path: Path) -> None:
    """Real servers (the upstream streams): the first block is readable by every waiter, and a range
    inside it is answered whole, while the upstream still holds back the rest."""
    hold = threading.Event()
    upstream = Generated(hold=hold)
    expected = body(SIZE)

    async def scenario(url: str) -> tuple[list[bytes], bytes]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            first: asyncio.Queue[int] = asyncio.Queue()

            async def whole() -> bytes:
                async with c.stream("GET", f"/{KEY}") as r:
                    got = b""
                    async for chunk in r.aiter_raw():
                        got += chunk
                        if len(got) >= len(BLOCK) and len(got) - len(chunk) < len(BLOCK):
                            await first.put(len(got))
                    return got

            tasks = [asyncio.create_task(whole()) for _ in range(10)]
            for _ in tasks:  # every waiter has the first block while the upstream holds back the rest
                await asyncio.wait_for(first.get(), 20)
            inside = await c.get(f"/{KEY}", headers={"range": f"bytes=1000-{len(BLOCK) - 1}"})
            assert not any(t.done() for t in tasks)
            hold.set()
            return await asyncio.gather(*tasks), inside.content

    settings = edge_settings(tmp_path, "edge", "edge", "", memory_max_object_bytes=SMALL_OBJECTS)
    with serving(upstream.app) as up:
        with serving(create_edge(settings.model_copy(update={"upstream_url": up.url}))) as edge:
            bodies, inside = asyncio.run(scenario(edge.url))
    assert bodies == [expected] * 10 and inside == expected[1000 : len(BLOCK)]
    assert upstream.requests == 1


@pytest.mark.parametrize(
    ("overrides", "cache_control"),
    [({"disk_budget_bytes": 0}, "public, max-age=3600"), ({}, "no-store"), ({"disk_budget_bytes": SIZE - 1}, None)],
    ids=["no disk tier", "no-store", "larger than the disk tier"],
)
async def test_a_body_no_tier_keeps_is_served_and_leaves_nothing(
    tmp_path: Path, overrides: dict[str, object], cache_control: str | None
) -> None:
    upstream = Generated(cache_control=cache_control or "public, max-age=3600")
    app = _edge_app(tmp_path, upstream, **overrides)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e") as c:
        answers = await asyncio.gather(*(c.get(f"/{KEY}") for _ in range(5)))
        assert {(a.status_code, a.content == body(SIZE)) for a in answers} == {(200, True)}
        await c.get(f"/{KEY}")
        assert upstream.requests == 2  # collapsed, not stored
        await asyncio.gather(*app.state.node.tasks)  # the fills clean up after their waiters are answered
    assert [p for p in _files(tmp_path / "cache") if p.suffix == ".body" or "fill" in p.parts] == []


async def test_concurrent_fills_are_bounded_and_the_others_wait(tmp_path: Path) -> None:
    gate = asyncio.Event()
    upstream = Generated(gate)
    app = _edge_app(tmp_path, upstream, max_concurrent_fills=2)
    node = app.state.node

    def fills(state: str) -> float | None:
        return node.metrics.registry.get_sample_value("vodstack_edge_fills", {"node": "edge", "state": state})

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e") as c:
        tasks = [asyncio.create_task(c.get(f"/gen/1000/{i}.bin")) for i in range(6)]
        while upstream.active < 2:
            await asyncio.sleep(0)
        for _ in range(200):  # every request has had its turn to reach the upstream
            await asyncio.sleep(0)
        assert upstream.active == 2
        assert (fills("running"), fills("waiting")) == (2, 4)
        gate.set()
        answers = await asyncio.gather(*tasks)
        await asyncio.gather(*node.tasks)  # the last fills may still be storing
        assert (fills("running"), fills("waiting")) == (0, 0)
    assert [a.content for a in answers] == [body(1000)] * 6
    assert (upstream.requests, upstream.peak) == (6, 2)


def test_a_thread_holding_the_disk_tier_lock_never_blocks_the_event_loop(tmp_path: Path) -> None:
    """Lookups and purges run while a thread holds the disk tier's lock (an eviction, a big rename): the
    requests that need that lock wait for it in worker threads; the event loop answers the others."""
    upstream = Generated()
    settings = edge_settings(
        tmp_path, "edge", "edge", "http://up", memory_max_object_bytes=SMALL_OBJECTS, purge_token="t"
    )
    app = create_edge(settings, transport=httpx.ASGITransport(app=upstream.app))
    cache = app.state.node.cache
    entered = {"get": threading.Event(), "purge": threading.Event()}

    def noting(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            entered[name].set()
            return method(*args, **kwargs)

        return call

    cache.disk.get = noting("get", cache.disk.get)
    cache.purge = noting("purge", cache.purge)
    with serving(app) as edge, httpx.Client(base_url=edge.url, timeout=10) as c:
        assert c.get(f"/{KEY}").content == body(SIZE)  # now on disk only
        results: dict[str, httpx.Response] = {}

        def request(name: str, method: str, path: str, **kwargs: Any) -> threading.Thread:
            def run() -> None:
                with httpx.Client(base_url=edge.url, timeout=30) as own:
                    results[name] = own.request(method, path, **kwargs)

            entered[name].clear()
            thread = threading.Thread(target=run)
            thread.start()
            assert entered[name].wait(60)  # the request reached the disk tier (and its lock)
            return thread

        with cache.disk.lock:
            waiting = [
                request("get", "GET", f"/{KEY}"),
                request("purge", "POST", "/_purge", json={"keys": ["x"]}, headers={"authorization": "Bearer t"}),
            ]
            assert c.get("/healthz").status_code == 200  # the loop answers while both wait for the lock
            assert results == {}
        for thread in waiting:
            thread.join(30)
    assert results["get"].content == body(SIZE) and "edge; hit" in results["get"].headers["cache-status"]
    assert results["purge"].json() == {"purged": 0}


async def test_a_large_fill_purged_in_flight_is_served_but_not_kept(tmp_path: Path) -> None:
    gate = asyncio.Event()
    upstream = Generated(gate)
    app = _edge_app(tmp_path, upstream, purge_token="t")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e") as c:
        waiting = asyncio.create_task(c.get(f"/{KEY}"))
        while upstream.active < 1:
            await asyncio.sleep(0)
        purged = await c.post("/_purge", json={"keys": [KEY]}, headers={"authorization": "Bearer t"})
        assert purged.json() == {"purged": 0}
        gate.set()
        assert (await waiting).content == body(SIZE)
        # The fill removes its file after its waiters have their bodies: wait for the fill, not a guess.
        await asyncio.gather(*app.state.node.tasks)
        assert _files(tmp_path / "cache" / "edge") == []  # neither in the disk tier nor left in fill/
        await c.get(f"/{KEY}")
        assert upstream.requests == 2
