"""Lifecycle tiering of stored media: hot, warm and cold, with cold behaving like an S3 archive class.

Model (after S3 lifecycle rules, Intelligent-Tiering and Glacier restores):
  - every object of the media bucket has a tier; new objects are hot;
  - a periodic job (`apply_lifecycle`, a Celery beat task) moves objects down by idle time: hot -> warm
    after `warm_after_days` without a read, warm -> cold after `cold_after_days`; a read of a warm object
    moves it back to hot (Intelligent-Tiering), so only content nobody watches keeps getting cheaper;
  - reading a cold object needs a restore: the first read starts one (ready `restore_seconds` later)
    and every read until then gets ObjectArchived (503 + Retry-After at the origin, held briefly by the
    shield, so a crowd of players costs one restore); once ready, a restored copy is readable for
    `restored_days`, after which the object is plain cold again;
  - while some rungs of an asset are archived, the origin lists only the readable rungs in the
    multivariant playlist and restores the rest (origin/rungs.py), so players start on a lower rung.
The tier of an object is bookkeeping in a small SQLite index beside the data (shared by the origin,
which restores and records reads, and the beat worker, which transitions). With the S3 backend the
same policy is also written as bucket lifecycle rules (`apply_bucket_lifecycle`) so S3 moves the bytes
to cheaper storage classes itself. Originals in staging are deleted `staging_ttl_hours` after their
asset is ready (`expire_staging`); abandoned TUS uploads and their multipart uploads are reclaimed by
ingest/cleanup.py, and on S3 an AbortIncompleteMultipartUpload rule backs that up.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.errors import StorageUnavailable
from storage.objects import ObjectInfo, ObjectStore
from storage.settings import data_dir
from storage.tier_index import Tier, TierIndex

DAY = 86_400.0
# How stale a recorded last read may be (S3 Intelligent-Tiering also tracks access in days).
ACCESS_RESOLUTION = 3600.0
GB = 1024**3


class ObjectArchived(StorageUnavailable):
    """A cold object without a readable restored copy; a restore is in progress (retry later)."""

    code = "object_archived"

    def __init__(self, bucket: str, key: str, retry_after: float) -> None:
        super().__init__(f"{bucket}/{key} is archived; restore ready in {retry_after:.0f}s")
        self.retry_after = max(1.0, retry_after)


class TieringSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VODSTACK_TIERING_", extra="ignore")

    # Off by default: the embedded deployment keeps everything hot.
    enabled: bool = False
    # SQLite file holding each object's tier, last read and restore state.
    index_path: Path = Field(default_factory=lambda: data_dir() / "tiering.db")
    # Days without a read before hot -> warm and warm -> cold.
    warm_after_days: float = 30.0
    cold_after_days: float = 90.0
    # Seconds a restore of a cold object takes (S3 Glacier: minutes to hours), and days the copy lasts.
    restore_seconds: float = 4 * 3600.0
    restored_days: float = 7.0
    # Hours after an asset is ready before its original in staging is deleted.
    staging_ttl_hours: float = 72.0
    # Days after which S3 aborts incomplete multipart uploads (bucket lifecycle rule).
    abort_multipart_days: int = 2
    # Monthly price per GB stored, by tier (defaults: S3 Standard, Standard-IA, Glacier Flexible).
    price_hot_gb_month: float = 0.023
    price_warm_gb_month: float = 0.0125
    price_cold_gb_month: float = 0.0036
    # Seconds between two lifecycle runs of the beat job.
    interval_seconds: float = 3600.0

    def price(self, tier: Tier) -> float:
        return {
            Tier.HOT: self.price_hot_gb_month,
            Tier.WARM: self.price_warm_gb_month,
            Tier.COLD: self.price_cold_gb_month,
        }[tier]


@dataclass(frozen=True)
class TierRow:
    tier: Tier
    objects: int
    bytes: int
    monthly_cost: float


class TieredObjectStore:
    """An ObjectStore that enforces tiers on the media bucket: records writes and reads, and makes cold
    objects need a restore. Other buckets pass straight through."""

    def __init__(
        self,
        base: ObjectStore,
        index: TierIndex,
        settings: TieringSettings,
        bucket: str = "media",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base = base
        self.index = index
        self.settings = settings
        self.bucket = bucket
        self.clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)  # ensure_bucket, list, delete of other buckets, ...

    def _written(self, info: ObjectInfo) -> ObjectInfo:
        if info.bucket == self.bucket:
            now = self.clock()
            with self.index.tx() as db:
                db.execute(
                    "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, 'hot', ?, ?, NULL, NULL)",
                    (info.bucket, info.key, info.size, now, now),
                )
        return info

    def _check_readable(self, bucket: str, key: str) -> None:
        """Record a read; raise ObjectArchived for a cold object without a readable copy."""
        if bucket != self.bucket:
            return
        now = self.clock()
        with self.index.tx() as db:
            row = db.execute(
                "SELECT tier, restore_ready_at, restored_until, last_access FROM objects WHERE bucket=? AND key=?",
                (bucket, key),
            ).fetchone()
            if row is None:  # published before tiering was enabled: adopt it as hot
                info = self.base.stat(bucket, key)
                db.execute(
                    "INSERT INTO objects VALUES (?, ?, ?, 'hot', ?, ?, NULL, NULL)",
                    (bucket, key, info.size, info.last_modified.timestamp(), now),
                )
                return
            tier, ready_at, restored_until, last_access = Tier(row[0]), row[1], row[2], row[3]
            if tier is Tier.HOT and now - last_access < ACCESS_RESOLUTION:
                return  # policies count idle days: a write per read would buy nothing
            if tier is not Tier.COLD:
                db.execute("UPDATE objects SET tier='hot', last_access=? WHERE bucket=? AND key=?", (now, bucket, key))
                if tier is Tier.WARM:
                    self.index.bump(db, "transitions:warm:hot")
                return
            if restored_until is not None and now < restored_until:
                db.execute("UPDATE objects SET last_access=? WHERE bucket=? AND key=?", (now, bucket, key))
                return
            if ready_at is not None and now >= ready_at:  # the restore finished: a copy for restored_days
                db.execute(
                    "UPDATE objects SET restore_ready_at=NULL, restored_until=?, last_access=? "
                    "WHERE bucket=? AND key=?",
                    (now + self.settings.restored_days * DAY, now, bucket, key),
                )
                return
            if ready_at is None:  # the first read since it went cold: start exactly one restore
                ready_at = now + self.settings.restore_seconds
                db.execute(
                    "UPDATE objects SET restore_ready_at=?, restored_until=NULL WHERE bucket=? AND key=?",
                    (ready_at, bucket, key),
                )
                self.index.bump(db, "restores")
        raise ObjectArchived(bucket, key, ready_at - now)

    # -- the ObjectStore port -------------------------------------------------------------------
    def put_file(self, bucket: str, key: str, path: Path, content_type: str | None = None) -> ObjectInfo:
        return self._written(self.base.put_file(bucket, key, path, content_type))

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        return self._written(self.base.put_bytes(bucket, key, data, content_type))

    def put_stream(
        self, bucket: str, key: str, stream: BinaryIO, length: int, content_type: str | None = None
    ) -> ObjectInfo:
        return self._written(self.base.put_stream(bucket, key, stream, length, content_type))

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        # The origin stats before every read: this is where a cold object turns into a restore.
        info = self.base.stat(bucket, key)
        self._check_readable(bucket, key)
        return info

    def read_range(self, bucket: str, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        self._check_readable(bucket, key)
        return self.base.read_range(bucket, key, start, end)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        self._check_readable(bucket, key)
        return self.base.get_bytes(bucket, key)

    def download(self, bucket: str, key: str, path: Path) -> None:
        self._check_readable(bucket, key)
        self.base.download(bucket, key, path)

    def read_url(self, bucket: str, key: str, expires: timedelta) -> str | None:
        self._check_readable(bucket, key)
        return self.base.read_url(bucket, key, expires)

    def delete(self, bucket: str, key: str) -> None:
        self.base.delete(bucket, key)
        with self.index.tx() as db:
            db.execute("DELETE FROM objects WHERE bucket=? AND key=?", (bucket, key))


def apply_lifecycle(index: TierIndex, settings: TieringSettings, now: float) -> dict[str, int]:
    """One run of the policy (the beat job): idle objects move down a tier, expired restored copies
    lapse. Returns the transitions made, e.g. {"hot:warm": 3, "warm:cold": 1}."""
    moves = {
        "hot:warm": ("hot", "warm", now - settings.warm_after_days * DAY),
        "warm:cold": ("warm", "cold", now - settings.cold_after_days * DAY),
    }
    done: dict[str, int] = {}
    with index.tx() as db:
        # warm -> cold first, so one run never moves an object two tiers at once.
        for name in ("warm:cold", "hot:warm"):
            src, dst, idle_since = moves[name]
            cur = db.execute(
                "UPDATE objects SET tier=?, restore_ready_at=NULL, restored_until=NULL "
                "WHERE tier=? AND last_access < ?",
                (dst, src, idle_since),
            )
            if cur.rowcount:
                done[name] = cur.rowcount
                index.bump(db, f"transitions:{src}:{dst}", cur.rowcount)
        db.execute(
            "UPDATE objects SET restored_until=NULL WHERE restored_until IS NOT NULL AND restored_until <= ?", (now,)
        )
    return done


def expire_staging(catalog: Any, store: ObjectStore, bucket: str, settings: TieringSettings, now: datetime) -> int:
    """Delete originals whose asset has been ready for `staging_ttl_hours`; returns how many."""
    from sqlalchemy import select

    from catalog.models import Asset, AssetState

    cutoff = now - timedelta(hours=settings.staging_ttl_hours)
    removed = 0
    with catalog.session() as session:
        assets = session.scalars(
            select(Asset).where(
                Asset.state == AssetState.READY, Asset.staging_key.is_not(None), Asset.ready_at < cutoff
            )
        ).all()
        for asset in assets:
            store.delete(bucket, asset.staging_key)
            asset.staging_key = None
            removed += 1
    return removed


def report(index: TierIndex, settings: TieringSettings) -> list[TierRow]:
    """Objects, bytes and monthly cost per tier."""
    return [TierRow(tier, n, size, size / GB * settings.price(tier)) for tier, (n, size) in index.totals().items()]


def format_report(rows: list[TierRow]) -> str:
    lines = [f"{'tier':<6} {'objects':>10} {'bytes':>16} {'USD/month':>10}"]
    lines += [f"{r.tier.value:<6} {r.objects:>10} {r.bytes:>16} {r.monthly_cost:>10.4f}" for r in rows]
    lines.append(
        f"{'total':<6} {sum(r.objects for r in rows):>10} {sum(r.bytes for r in rows):>16} "
        f"{sum(r.monthly_cost for r in rows):>10.4f}"
    )
    return "\n".join(lines)


class TieringCollector:
    """Prometheus collector reading the index at scrape time (transitions happen in the beat worker,
    restores in the origin: the shared index is the one place that sees both)."""

    def __init__(self, index: TierIndex, settings: TieringSettings) -> None:
        self.index = index
        self.settings = settings

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        size = GaugeMetricFamily("vodstack_storage_tier_bytes", "Bytes stored, by tier.", labels=["tier"])
        count = GaugeMetricFamily("vodstack_storage_tier_objects", "Objects stored, by tier.", labels=["tier"])
        cost = GaugeMetricFamily("vodstack_storage_tier_monthly_cost_usd", "Monthly storage cost.", labels=["tier"])
        for row in report(self.index, self.settings):
            size.add_metric([row.tier.value], row.bytes)
            count.add_metric([row.tier.value], row.objects)
            cost.add_metric([row.tier.value], row.monthly_cost)
        counters = self.index.counters()
        moves = CounterMetricFamily(
            "vodstack_storage_tier_transitions", "Objects moved between tiers.", labels=["from_tier", "to_tier"]
        )
        for name, value in counters.items():
            if name.startswith("transitions:"):
                _, src, dst = name.split(":")
                moves.add_metric([src, dst], value)
        restores = CounterMetricFamily("vodstack_storage_restores", "Restores of cold objects started.")
        restores.add_metric([], counters.get("restores", 0))
        yield from (size, count, cost, moves, restores)


def lifecycle_rules(settings: TieringSettings, *, staging: bool) -> Any:
    """The equivalent S3 bucket lifecycle configuration (minio SDK types). S3 transitions by object age,
    not idle time: the nearest equivalent of our idle-time policy."""
    from minio.commonconfig import ENABLED, Filter
    from minio.lifecycleconfig import AbortIncompleteMultipartUpload, LifecycleConfig, Rule, Transition

    if staging:
        rule = Rule(
            ENABLED,
            rule_filter=Filter(prefix=""),
            rule_id="vodstack-abort-multipart",
            abort_incomplete_multipart_upload=AbortIncompleteMultipartUpload(settings.abort_multipart_days),
        )
        return LifecycleConfig([rule])
    warm = Rule(
        ENABLED,
        rule_filter=Filter(prefix=""),
        rule_id="vodstack-warm",
        transition=Transition(days=max(1, round(settings.warm_after_days)), storage_class="STANDARD_IA"),
    )
    cold = Rule(
        ENABLED,
        rule_filter=Filter(prefix=""),
        rule_id="vodstack-cold",
        transition=Transition(days=max(1, round(settings.cold_after_days)), storage_class="GLACIER"),
    )
    return LifecycleConfig([warm, cold])


def apply_bucket_lifecycle(store: Any, media_bucket: str, staging_bucket: str, settings: TieringSettings) -> None:
    """Write the lifecycle rules on an S3ObjectStore's buckets (no-op for other backends)."""
    client = getattr(store, "client", None)
    if client is None or not hasattr(client, "set_bucket_lifecycle"):
        return
    for bucket, is_staging in ((media_bucket, False), (staging_bucket, True)):
        client.set_bucket_lifecycle(store._b(bucket), lifecycle_rules(settings, staging=is_staging))


def register_beat(app: Any, settings: TieringSettings) -> None:
    """Add the lifecycle task and its beat schedule to a Celery app (the composition root calls this)."""

    @app.task(name="storage.tiering.apply_lifecycle", ignore_result=True)
    def lifecycle_task() -> dict[str, int]:
        index = TierIndex(settings.index_path)
        try:
            return apply_lifecycle(index, settings, time.time())
        finally:
            index.close()

    schedule = dict(app.conf.beat_schedule or {})
    schedule["vodstack-tiering"] = {"task": "storage.tiering.apply_lifecycle", "schedule": settings.interval_seconds}
    app.conf.beat_schedule = schedule


def main(argv: list[str] | None = None) -> int:
    """`python -m storage.tiering report|apply`: the report, or one lifecycle run by hand."""
    parser = argparse.ArgumentParser(prog="python -m storage.tiering")
    parser.add_argument("command", choices=["report", "apply"])
    args = parser.parse_args(argv)
    settings = TieringSettings()
    index = TierIndex(settings.index_path)
    try:
        if args.command == "apply":
            print(apply_lifecycle(index, settings, time.time()))
        print(format_report(report(index, settings)))
    finally:
        index.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
