"""Lifecycle tiering on a simulated clock: hot -> warm -> cold by idle time, exactly one restore for a
crowd of readers (directly and through origin + shield), staging expiry, report, metrics, S3 rules.
The tier index is in the catalog (SQLite here; tests/tiering/test_shared_index.py: several origins)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from catalog.models import Asset, AssetState
from catalog.session import Catalog
from catalog.settings import CatalogSettings
from cdn_edge.app import create_app as create_edge
from cdn_edge.settings import EdgeSettings
from origin.app import create_app as create_origin
from origin.settings import OriginSettings
from storage.filesystem import FilesystemObjectStore
from storage.s3 import S3ObjectStore
from storage.settings import StorageSettings
from tests.s3 import moto_server
from tests.tiering.simulated import SETTINGS, Clock
from tiering.index import DAY, Tier, TierIndex
from tiering.lifecycle import (
    apply_bucket_lifecycle,
    apply_lifecycle,
    expire_staging,
    format_report,
    register_beat,
    report,
)
from tiering.store import ObjectArchived, TieredObjectStore

KEY = "a1/360p/seg_00001.m4s"


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    catalog = Catalog(CatalogSettings(url=f"sqlite:///{tmp_path / 'catalog.db'}"))
    yield catalog
    catalog.dispose()


def _tiered(tmp_path: Path, clock: Clock, catalog: Catalog) -> TieredObjectStore:
    base = FilesystemObjectStore(tmp_path / "objects")
    base.ensure_bucket("media")
    return TieredObjectStore(base, TierIndex(catalog), SETTINGS, "media", clock)


def test_tiers_follow_idle_time_and_cold_needs_one_restore(tmp_path: Path, catalog: Catalog) -> None:
    clock = Clock()
    store = _tiered(tmp_path, clock, catalog)
    store.put_bytes("media", KEY, b"segment")
    store.put_bytes("media", "a1/poster.jpg", b"jpeg")
    index, settings = store.index, store.settings

    clock.now += 20 * DAY
    assert store.get_bytes("media", "a1/poster.jpg") == b"jpeg"  # the poster keeps being watched
    clock.now += 15 * DAY
    assert apply_lifecycle(index, settings, clock.now) == {"hot:warm": 1}
    assert index.tier_of("media", KEY) is Tier.WARM
    assert index.tier_of("media", "a1/poster.jpg") is Tier.HOT
    clock.now += 91 * DAY
    assert apply_lifecycle(index, settings, clock.now) == {"warm:cold": 1, "hot:warm": 1}
    assert index.tier_of("media", KEY) is Tier.COLD
    # A read of a warm object brings it back to hot (Intelligent-Tiering).
    assert index.tier_of("media", "a1/poster.jpg") is Tier.WARM
    store.get_bytes("media", "a1/poster.jpg")
    assert index.tier_of("media", "a1/poster.jpg") is Tier.HOT

    # Many readers of a cold object: one restore, everyone told when to come back.
    waits = []
    for _ in range(50):
        with pytest.raises(ObjectArchived) as info:
            store.stat("media", KEY)
        waits.append(info.value.retry_after)
        clock.now += 1
    assert index.counters()["restores"] == 1
    assert waits[0] == 600 and waits[-1] == 600 - 49
    clock.now += 600
    assert store.get_bytes("media", KEY) == b"segment"
    assert store.stat("media", KEY).size == 7
    # The restored copy lasts restored_days; then the object is archived again, and a new read restores.
    clock.now += 3 * DAY
    apply_lifecycle(index, settings, clock.now)
    with pytest.raises(ObjectArchived):
        store.get_bytes("media", KEY)
    assert index.counters()["restores"] == 2
    counters = index.counters()
    assert counters["transitions:hot:warm"] == 2 and counters["transitions:warm:cold"] == 1
    assert counters["transitions:warm:hot"] == 1


def test_report_and_cost(tmp_path: Path, catalog: Catalog) -> None:
    clock = Clock()
    store = _tiered(tmp_path, clock, catalog)
    store.put_bytes("media", "a/x.m4s", b"x" * 1000)
    store.put_bytes("media", "b/y.m4s", b"y" * 3000)
    clock.now += 40 * DAY
    store.get_bytes("media", "b/y.m4s")
    apply_lifecycle(store.index, store.settings, clock.now)
    rows = {r.tier: r for r in report(store.index, store.settings)}
    assert (rows[Tier.HOT].objects, rows[Tier.HOT].bytes) == (1, 3000)
    assert (rows[Tier.WARM].objects, rows[Tier.WARM].bytes) == (1, 1000)
    assert rows[Tier.WARM].monthly_cost == pytest.approx(1000 / 1024**3 * 0.0125)
    assert "total" in format_report(list(rows.values()))


def test_shield_restores_once_and_answers_503_meanwhile(tmp_path: Path, catalog: Catalog) -> None:
    clock = Clock()
    store = _tiered(tmp_path, clock, catalog)
    store.put_bytes("media", KEY, b"segment" * 100)
    clock.now += 200 * DAY
    apply_lifecycle(store.index, store.settings, clock.now)
    apply_lifecycle(store.index, store.settings, clock.now)
    assert store.index.tier_of("media", KEY) is Tier.COLD

    origin = create_origin(OriginSettings(storage=StorageSettings(root=tmp_path / "objects")), store=store)
    shield = create_edge(
        EdgeSettings(name="shield", role="shield", upstream_url="http://origin", disk_dir=tmp_path / "cache",
                     unavailable_ttl=5),
        transport=httpx.ASGITransport(app=origin), clock=clock,
    )  # fmt: skip

    async def crowd() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=shield), base_url="http://s") as c:
            first = await asyncio.gather(*(c.get(f"/{KEY}") for _ in range(100)))
            await asyncio.sleep(0.05)
            return [*first, *await asyncio.gather(*(c.get(f"/{KEY}") for _ in range(100)))]

    responses = asyncio.run(crowd())
    assert {r.status_code for r in responses} == {503}
    assert all(int(r.headers["retry-after"]) > 0 for r in responses)
    assert store.index.counters()["restores"] == 1
    clock.now += 601

    async def after() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=shield), base_url="http://s") as c:
            return await c.get(f"/{KEY}")

    restored = asyncio.run(after())
    assert (restored.status_code, restored.content) == (200, b"segment" * 100)
    assert store.index.counters()["restores"] == 1

    async def metrics() -> str:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=origin), base_url="http://o") as c:
            return (await c.get("/metrics")).text

    text = asyncio.run(metrics())
    assert "vodstack_storage_restores_total 1.0" in text
    assert 'vodstack_storage_tier_objects{tier="cold"} 1.0' in text


def test_staging_originals_expire_after_ready(tmp_path: Path, catalog: Catalog) -> None:
    store = FilesystemObjectStore(tmp_path / "objects")
    store.ensure_bucket("staging")
    now = datetime(2030, 1, 10, tzinfo=UTC)
    with catalog.session() as session:
        for name, state, ready in [
            ("old", AssetState.READY, now - timedelta(hours=100)),
            ("new", AssetState.READY, now - timedelta(hours=1)),
            ("busy", AssetState.PROCESSING, None),
        ]:
            store.put_bytes("staging", f"originals/{name}", b"original")
            session.add(Asset(id=name, state=state, staging_key=f"originals/{name}", ready_at=ready))
    assert expire_staging(catalog, store, "staging", SETTINGS, now) == 1
    assert [o.key for o in store.list("staging")] == ["originals/busy", "originals/new"]
    with catalog.session() as session:
        assert session.get(Asset, "old").staging_key is None  # type: ignore[union-attr]


@pytest.mark.s3
def test_s3_bucket_lifecycle_rules() -> None:
    with moto_server() as endpoint:
        store = S3ObjectStore(endpoint, "testing", "testing", bucket_prefix="tier-")
        store.ensure_bucket("media")
        store.ensure_bucket("staging")
        apply_bucket_lifecycle(store, "media", "staging", SETTINGS)
        media = store.client.get_bucket_lifecycle("tier-media")
        assert sorted((r.rule_id, r.transition.days, r.transition.storage_class) for r in media.rules) == [
            ("vodstack-cold", 90, "GLACIER"),
            ("vodstack-warm", 30, "STANDARD_IA"),
        ]
        staging = store.client.get_bucket_lifecycle("tier-staging")
        assert staging.rules[0].abort_incomplete_multipart_upload.days_after_initiation == 2


def test_beat_schedule_runs_the_lifecycle(tmp_path: Path, catalog: Catalog) -> None:
    from celery import Celery

    clock = Clock()
    clock.now = time.time() - 1  # the task runs on the real clock
    store = _tiered(tmp_path, clock, catalog)
    store.put_bytes("media", KEY, b"segment")
    app = Celery("tiering-test")
    settings = SETTINGS.model_copy(update={"interval_seconds": 60, "warm_after_days": 0})
    register_beat(app, settings, CatalogSettings(url=str(catalog.engine.url)))
    assert app.conf.beat_schedule["vodstack-tiering"] == {"task": "tiering.apply_lifecycle", "schedule": 60}
    assert app.tasks["tiering.apply_lifecycle"].run() == {"hot:warm": 1}  # in the catalog the origin wrote
    assert store.index.tier_of("media", KEY) is Tier.WARM


def test_master_lists_only_hot_rungs_while_others_restore(tmp_path: Path, catalog: Catalog) -> None:
    import m3u8

    clock = Clock()
    store = _tiered(tmp_path, clock, catalog)
    variants = "".join(f"#EXT-X-STREAM-INF:BANDWIDTH={b}\n{n}/index.m3u8\n" for n, b in (("360p", 1), ("720p", 2)))
    store.put_bytes("media", "a1/master.m3u8", f"#EXTM3U\n{variants}".encode())
    for rung in ("360p", "720p"):
        store.put_bytes("media", f"a1/{rung}/index.m3u8", b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-ENDLIST\n")
        store.put_bytes("media", f"a1/{rung}/seg_00001.m4s", b"s")
    clock.now += 200 * DAY
    store.get_bytes("media", "a1/master.m3u8")  # the playlists are read daily; the 360p segments too
    store.get_bytes("media", "a1/360p/index.m3u8")
    store.get_bytes("media", "a1/720p/index.m3u8")
    store.get_bytes("media", "a1/360p/seg_00001.m4s")
    clock.now += 1
    apply_lifecycle(store.index, store.settings, clock.now)
    apply_lifecycle(store.index, store.settings, clock.now)
    assert store.index.tier_of("media", "a1/720p/seg_00001.m4s") is Tier.COLD
    assert store.index.tier_of("media", "a1/360p/seg_00001.m4s") is Tier.HOT

    origin = create_origin(OriginSettings(storage=StorageSettings(root=tmp_path / "objects")), store=store, clock=clock)

    async def master() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=origin), base_url="http://o") as c:
            return await c.get("/a1/master.m3u8")

    trimmed = asyncio.run(master())
    assert [p.uri for p in m3u8.loads(trimmed.text).playlists] == ["360p/index.m3u8"]
    assert trimmed.headers["cache-control"] == "public, max-age=10"
    assert store.index.counters()["restores"] == 1  # the 720p segment's restore started
    clock.now += 601
    full = asyncio.run(master())
    assert [p.uri for p in m3u8.loads(full.text).playlists] == ["360p/index.m3u8", "720p/index.m3u8"]
    assert store.get_bytes("media", "a1/720p/seg_00001.m4s") == b"s"
    assert store.index.counters()["restores"] == 1
