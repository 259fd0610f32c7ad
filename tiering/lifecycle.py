"""The lifecycle policy of stored media: hot, warm and cold, with cold behaving like an S3 archive class.

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
The tier of an object is bookkeeping in the catalog (tiering/index.py), shared by every origin (which
restore and record reads, tiering/store.py) and the beat worker (which transitions). With the S3
backend the same policy is also written as bucket lifecycle rules (`apply_bucket_lifecycle`) so S3
moves the bytes to cheaper storage classes itself. Originals in staging are deleted
`staging_ttl_hours` after their asset is ready (`expire_staging`); abandoned TUS uploads and their
multipart uploads are reclaimed by ingest/cleanup.py, and on S3 an AbortIncompleteMultipartUpload
rule backs that up.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from catalog.models import Asset, AssetState
from catalog.session import Catalog
from catalog.settings import CatalogSettings
from storage.objects import LifecycleRules, ObjectStore, Transition
from tiering.index import Tier, TierIndex
from tiering.settings import TieringSettings

GB = 1024**3
TASK_NAME = "tiering.apply_lifecycle"


@dataclass(frozen=True)
class TierRow:
    tier: Tier
    objects: int
    bytes: int
    monthly_cost: float


def apply_lifecycle(index: TierIndex, settings: TieringSettings, now: float) -> dict[str, int]:
    """One run of the policy (the beat job): idle objects move down a tier, expired restored copies
    lapse. Returns the transitions made, e.g. {"hot:warm": 3, "warm:cold": 1}."""
    return index.transition(now, settings.warm_after_days, settings.cold_after_days)


def expire_staging(catalog: Catalog, store: ObjectStore, bucket: str, settings: TieringSettings, now: datetime) -> int:
    """Delete originals whose asset has been ready for `staging_ttl_hours`; returns how many."""
    cutoff = now - timedelta(hours=settings.staging_ttl_hours)
    removed = 0
    with catalog.session() as session:
        assets = session.scalars(
            select(Asset).where(
                Asset.state == AssetState.READY, Asset.staging_key.is_not(None), Asset.ready_at < cutoff
            )
        ).all()
        for asset in assets:
            if asset.staging_key is not None:
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
    restores in the origins: the shared index is the one place that sees both)."""

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


def lifecycle_rules(settings: TieringSettings, *, staging: bool) -> LifecycleRules:
    """The equivalent bucket lifecycle rules. S3 transitions by object age, not idle time: the nearest
    equivalent of our idle-time policy."""
    if staging:
        return LifecycleRules(abort_multipart_days=settings.abort_multipart_days)
    return LifecycleRules(
        transitions=(
            Transition("vodstack-warm", max(1, round(settings.warm_after_days)), "STANDARD_IA"),
            Transition("vodstack-cold", max(1, round(settings.cold_after_days)), "GLACIER"),
        )
    )


def apply_bucket_lifecycle(
    store: ObjectStore, media_bucket: str, staging_bucket: str, settings: TieringSettings
) -> None:
    """Write the lifecycle rules on the store's buckets (no-op for a backend without bucket lifecycles)."""
    lifecycle = store.capabilities.lifecycle
    if lifecycle is None:
        return
    for bucket, is_staging in ((media_bucket, False), (staging_bucket, True)):
        lifecycle.set_rules(bucket, lifecycle_rules(settings, staging=is_staging))


def register_beat(app: Any, settings: TieringSettings, catalog_settings: CatalogSettings) -> None:
    """Add the lifecycle task and its beat schedule to a Celery app (the composition root calls this)."""
    indexes: list[TierIndex] = []  # one per worker process, opened by its first run (not before a fork)

    @app.task(name=TASK_NAME, ignore_result=True)
    def lifecycle_task() -> dict[str, int]:
        if not indexes:
            indexes.append(TierIndex(Catalog(catalog_settings)))
        return apply_lifecycle(indexes[0], settings, time.time())

    schedule = dict(app.conf.beat_schedule or {})
    schedule["vodstack-tiering"] = {"task": TASK_NAME, "schedule": settings.interval_seconds}
    app.conf.beat_schedule = schedule


def main(argv: list[str] | None = None) -> int:
    """`python -m tiering.lifecycle report|apply`: the report, or one lifecycle run by hand."""
    parser = argparse.ArgumentParser(prog="python -m tiering.lifecycle")
    parser.add_argument("command", choices=["report", "apply"])
    args = parser.parse_args(argv)
    settings = TieringSettings()
    catalog = Catalog(CatalogSettings())
    try:
        index = TierIndex(catalog)
        if args.command == "apply":
            print(apply_lifecycle(index, settings, time.time()))
        print(format_report(report(index, settings)))
    finally:
        catalog.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
