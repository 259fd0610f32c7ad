"""One tier index for every origin: two origins (each with its own catalog engine, as two processes
would have) and a beat worker over one catalog see each other's writes, reads and transitions, and a
crowd of readers racing on both origins starts exactly one restore. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from catalog.session import Catalog
from catalog.settings import CatalogSettings
from origin.app import create_app as create_origin
from origin.settings import OriginSettings
from storage.filesystem import FilesystemObjectStore
from storage.settings import StorageSettings
from tests.tiering.simulated import SETTINGS, Clock
from tests.transcoder.services import postgres_catalog  # noqa: F401 - a fixture
from tiering.index import DAY, Tier, TierIndex
from tiering.lifecycle import apply_lifecycle
from tiering.store import ObjectArchived, TieredObjectStore

KEY = "a1/720p/seg_00001.m4s"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalogs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Catalog]]:
    """Three catalogs on one database: origin A, origin B, the beat worker."""
    if request.param == "sqlite":
        settings = CatalogSettings(url=f"sqlite:///{tmp_path / 'catalog.db'}")
    else:
        settings = request.getfixturevalue("postgres_catalog")
    opened = [Catalog(settings) for _ in range(3)]
    yield opened
    for catalog in opened:
        catalog.dispose()


def _origins(tmp_path: Path, catalogs: list[Catalog], clock: Clock) -> tuple[list[TieredObjectStore], TierIndex]:
    base = FilesystemObjectStore(tmp_path / "objects")
    base.ensure_bucket("media")
    stores = [TieredObjectStore(base, TierIndex(c), SETTINGS, "media", clock) for c in catalogs[:2]]
    return stores, TierIndex(catalogs[2])


def test_two_origins_and_the_beat_share_one_index(tmp_path: Path, catalogs: list[Catalog]) -> None:
    clock = Clock()
    (a, b), beat = _origins(tmp_path, catalogs, clock)
    a.put_bytes("media", KEY, b"segment" * 100)
    b.put_bytes("media", "a1/poster.jpg", b"jpeg")
    assert (beat.tier_of("media", KEY), beat.tier_of("media", "a1/poster.jpg")) == (Tier.HOT, Tier.HOT)
    clock.now += 100 * DAY
    assert b.get_bytes("media", "a1/poster.jpg") == b"jpeg"  # read on B: hot again, whoever wrote it
    clock.now += 1
    assert apply_lifecycle(beat, SETTINGS, clock.now) == {"hot:warm": 1}
    assert apply_lifecycle(beat, SETTINGS, clock.now) == {"warm:cold": 1}
    assert a.index.tier_of("media", KEY) is b.index.tier_of("media", KEY) is Tier.COLD

    origins = [
        create_origin(OriginSettings(storage=StorageSettings(root=tmp_path / "objects")), store=s, clock=clock)
        for s in (a, b)
    ]

    async def crowd() -> list[httpx.Response]:
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=o), base_url=f"http://origin-{i}")
            for i, o in enumerate(origins)
        ]
        try:
            return await asyncio.gather(*(clients[i % 2].get(f"/{KEY}") for i in range(60)))
        finally:
            for client in clients:
                await client.aclose()

    waiting = asyncio.run(crowd())
    assert {r.status_code for r in waiting} == {503}
    assert {int(r.headers["retry-after"]) for r in waiting} == {600}
    assert beat.counters()["restores"] == 1
    clock.now += 600
    restored = asyncio.run(crowd())
    assert {(r.status_code, r.content) for r in restored} == {(200, b"segment" * 100)}
    assert beat.counters()["restores"] == 1


def test_readers_racing_on_two_origins_start_one_restore(tmp_path: Path, catalogs: list[Catalog]) -> None:
    clock = Clock()
    (a, b), beat = _origins(tmp_path, catalogs, clock)
    a.put_bytes("media", KEY, b"segment")
    clock.now += 200 * DAY
    apply_lifecycle(beat, SETTINGS, clock.now)
    apply_lifecycle(beat, SETTINGS, clock.now)
    readers = 16
    start = threading.Barrier(readers)

    def read(store: TieredObjectStore) -> float:
        start.wait(60)
        try:
            store.stat("media", KEY)
        except ObjectArchived as archived:
            return archived.retry_after
        return 0.0

    with ThreadPoolExecutor(readers) as pool:
        waits = list(pool.map(read, [a, b] * (readers // 2)))
    assert waits == [600.0] * readers
    assert beat.counters() == {"transitions:hot:warm": 1, "transitions:warm:cold": 1, "restores": 1}


def test_origins_built_from_their_settings_share_the_catalog_index(tmp_path: Path) -> None:
    """The composition path: `create_origin(settings)` with tiering on opens the index in the catalog
    of its settings (migrated on start), so origins started apart share it."""
    clock = Clock()
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    settings = OriginSettings(
        storage=StorageSettings(root=tmp_path / "objects"), tiering=SETTINGS, catalog=CatalogSettings(url=url)
    )
    origins = [create_origin(settings, clock=clock) for _ in range(2)]
    writer = origins[0].state.origin.store
    writer.ensure_bucket("media")
    writer.put_bytes("media", KEY, b"segment")
    beat = Catalog(CatalogSettings(url=url))
    try:
        clock.now += 200 * DAY
        apply_lifecycle(TierIndex(beat), SETTINGS, clock.now)
        apply_lifecycle(TierIndex(beat), SETTINGS, clock.now)

        async def get(origin: object) -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=origin), base_url="http://o") as c:
                return await c.get(f"/{KEY}")

        assert asyncio.run(get(origins[1])).status_code == 503  # archived, seen through the other origin
        assert asyncio.run(get(origins[0])).status_code == 503
        assert TierIndex(beat).counters()["restores"] == 1
    finally:
        beat.dispose()
        for origin in origins:
            origin.state.origin.store.index.catalog.dispose()
