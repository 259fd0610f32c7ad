"""Scrape-time collectors of the worker exporter: queue depth from a real broker, job counts from a
real catalog."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from catalog.models import Asset, Job, JobState
from catalog.session import Catalog
from catalog.settings import CatalogSettings
from jobs.celery_app import LIGHT_QUEUE, TRANSCODE_QUEUE, enqueue_transcode, make_celery
from jobs.settings import BrokerSettings
from transcoder.worker.exporter import CatalogJobsCollector, QueueDepthCollector, prune_dead_processes


def scrape(*collectors: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)  # type: ignore[arg-type]
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def check_queue_depth(broker: BrokerSettings) -> None:
    app = make_celery(broker)
    collector = QueueDepthCollector(app, [TRANSCODE_QUEUE, LIGHT_QUEUE])
    before = scrape(collector)
    assert before[("vodstack_transcoder_collector_up", (("collector", "queue"),))] == 1
    for i in range(3):
        enqueue_transcode(app, f"job-{i}")
    seen = scrape(collector)
    q = "vodstack_transcoder_queue_messages"
    assert seen[(q, (("queue", TRANSCODE_QUEUE),))] == before[(q, (("queue", TRANSCODE_QUEUE),))] + 3
    assert seen[(q, (("queue", LIGHT_QUEUE),))] == 0


def test_queue_depth_on_the_filesystem_broker(tmp_path: Path) -> None:
    check_queue_depth(BrokerSettings(url="filesystem://", folder=tmp_path / "broker"))


@pytest.mark.redis
def test_queue_depth_on_redis() -> None:
    import redis

    url = f"{os.environ['VODSTACK_TEST_REDIS_URL'].rstrip('/')}/{secrets.randbelow(14) + 1}"
    redis.Redis.from_url(url).flushdb()
    check_queue_depth(BrokerSettings(url=url))


def test_unreachable_broker_reports_down_not_a_failed_scrape() -> None:
    app = make_celery(BrokerSettings(url="redis://127.0.0.1:1/0"))
    app.conf.broker_connection_timeout = 0.5
    seen = scrape(QueueDepthCollector(app, [TRANSCODE_QUEUE]))
    assert seen[("vodstack_transcoder_collector_up", (("collector", "queue"),))] == 0


def test_catalog_job_counts_overdue_and_oldest(tmp_path: Path) -> None:
    catalog = Catalog(CatalogSettings(url=f"sqlite:///{tmp_path / 'catalog.db'}"))
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    with catalog.session() as s:
        asset = Asset()
        s.add(asset)
        s.flush()
        s.add_all(
            [
                Job(asset_id=asset.id, state=JobState.QUEUED, created_at=now - timedelta(minutes=5)),
                Job(asset_id=asset.id, state=JobState.QUEUED, created_at=now - timedelta(minutes=1)),
                Job(asset_id=asset.id, state=JobState.RUNNING, deadline_at=now + timedelta(minutes=5)),
                Job(asset_id=asset.id, state=JobState.RUNNING, deadline_at=now - timedelta(minutes=5)),
                Job(asset_id=asset.id, state=JobState.SUCCEEDED),
            ]
        )
    seen = scrape(CatalogJobsCollector(catalog, now=lambda: now))
    assert seen[("vodstack_transcoder_catalog_jobs", (("state", "queued"),))] == 2
    assert seen[("vodstack_transcoder_catalog_jobs", (("state", "running"),))] == 2
    assert seen[("vodstack_transcoder_catalog_jobs", (("state", "waiting"),))] == 0
    assert seen[("vodstack_transcoder_overdue_jobs", ())] == 1
    assert seen[("vodstack_transcoder_oldest_queued_job_age_seconds", ())] == 300
    catalog.dispose()


def test_prune_drops_only_dead_processes_live_gauges(tmp_path: Path) -> None:
    for name in ("gauge_livesum_100.db", "gauge_livesum_200.db", "gauge_liveall_100.db", "counter_100.db"):
        (tmp_path / name).write_bytes(b"")
    assert prune_dead_processes(tmp_path, alive=lambda pid: pid == 200) == [100]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_100.db", "gauge_livesum_200.db"]
