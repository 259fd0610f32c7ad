"""A real `vodstack worker --concurrency 2 --metrics-port P` (Celery prefork): jobs run in the pool
processes, and the parent's endpoint reports all of them, then nothing running; only to a scraper
with the token of VODSTACK_TRANSCODER_METRICS_TOKEN."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from catalog.session import Catalog
from catalog.settings import CatalogSettings
from jobs.celery_app import enqueue_transcode, make_celery
from jobs.settings import BrokerSettings
from storage.factory import open_store
from storage.settings import StorageSettings
from tests.transcoder.harness import queue_job
from vodstack.supervisor import free_port

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

JOBS = 4
TOKEN = "worker-scrape"


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    answer = httpx.get(url, timeout=5, headers={"Authorization": f"Bearer {TOKEN}"}).raise_for_status()
    for family in text_string_to_metric_families(answer.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_pool_processes_report_through_the_parent(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # Hermetic whatever the environment says (CI's second pass points at Redis and PostgreSQL).
    env = {
        **os.environ,
        "VODSTACK_DATA_DIR": str(data),
        "VODSTACK_BROKER_URL": "filesystem://",
        "VODSTACK_CATALOG_URL": f"sqlite:///{data / 'catalog.db'}",
        "VODSTACK_STORAGE_BACKEND": "filesystem",
        "VODSTACK_TRANSCODER_METRICS_TOKEN": TOKEN,
    }
    data.mkdir()
    catalog_settings = CatalogSettings(url=env["VODSTACK_CATALOG_URL"])
    storage_settings = StorageSettings(backend="filesystem", root=data / "objects")
    broker = BrokerSettings(url="filesystem://", folder=data / "broker")
    catalog = Catalog(catalog_settings)
    store = open_store(storage_settings)
    # Originals that are not media: every job fails fast in the pool, with a reason.
    job_ids = []
    for i in range(JOBS):
        key = f"junk-{i}"
        store.put_bytes(storage_settings.staging_bucket, key, os.urandom(50_000))
        job_ids.append(queue_job(catalog, key)[1])
    app = make_celery(broker)
    for job_id in job_ids:
        enqueue_transcode(app, job_id)

    port = free_port()
    argv = [sys.executable, "-m", "vodstack", "worker", "--concurrency", "2", "--metrics-port", str(port)]
    argv += ["--metrics-host", "127.0.0.1", "--name", "exporter-test"]
    with open(tmp_path / "worker.log", "wb") as log:  # the child writes to its own copy
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/metrics"
    kind = (("kind", "transcode"),)
    try:
        deadline = time.monotonic() + 120
        seen: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        while time.monotonic() < deadline:
            try:
                seen = scrape(url)
            except httpx.HTTPError:
                seen = {}
            if seen.get(("vodstack_transcoder_jobs_finished_total", (*kind, ("outcome", "failed")))) == JOBS:
                break
            assert proc.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.5)
        else:
            raise AssertionError(f"{seen}\n{(tmp_path / 'worker.log').read_text()[-3000:]}")
        assert seen[("vodstack_transcoder_jobs_started_total", kind)] == JOBS
        assert seen[("vodstack_transcoder_jobs_running", kind)] == 0
        failures = sum(v for (name, _), v in seen.items() if name == "vodstack_transcoder_failures_total")
        assert failures == JOBS
        assert seen[("vodstack_transcoder_queue_messages", (("queue", "transcode"),))] == 0
        assert seen[("vodstack_transcoder_collector_up", (("collector", "catalog"),))] == 1
        # The samples came from the pool processes, not from the parent that serves them.
        writers = {p.name.rsplit("_", 1)[1] for p in (data / "metrics" / "exporter-test").glob("counter_*.db")}
        assert writers - {f"{proc.pid}.db"}, writers
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            refused = httpx.get(url, timeout=5, headers=headers)
            assert refused.status_code == 401 and "vodstack_" not in refused.text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        catalog.dispose()
