"""Real Prometheus scraping every service with its /metrics token set (one shared token file from
observability.scrape): every job is up, none answers without the token."""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from cdn_edge.app import create_app as create_edge
from ingest.app import create_app as create_ingest
from jobs.celery_app import make_celery
from origin.app import create_app as create_origin
from origin.settings import OriginSettings
from storage.filesystem import FilesystemObjectStore
from storage.settings import StorageSettings
from tests.cdn_edge.conftest import serving
from tests.cdn_edge.edge_stack import edge_settings
from tests.ingest.conftest import make_settings
from tests.ingest.harness import ServerThread
from tests.observability.test_live_prometheus import JOBS, PROMETHEUS, start_prometheus
from transcoder.worker.exporter import start_exporter

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(120)]

TOKEN = "scrape-every-service"


def test_prometheus_scrapes_every_protected_service(tmp_path: Path) -> None:
    assert os.path.exists(PROMETHEUS), "Debian's prometheus package is needed"
    token_file = tmp_path / "metrics-token"
    token_file.write_text(TOKEN + "\n")
    store = FilesystemObjectStore(tmp_path / "objects")
    store.ensure_bucket("media")
    registry = CollectorRegistry()
    Counter("vodstack_transcoder_probe", "A sample.", registry=registry).inc()
    with ExitStack() as stack:
        ingest_settings = make_settings(tmp_path, "filesystem", metrics_token=TOKEN)
        ingest = stack.enter_context(
            ServerThread(create_ingest(ingest_settings, celery_app=make_celery(ingest_settings.broker)))
        )
        origin_settings = OriginSettings(storage=StorageSettings(root=tmp_path / "objects"), metrics_token=TOKEN)
        origin = stack.enter_context(serving(create_origin(origin_settings, store=store)))
        nodes = {
            role: stack.enter_context(
                serving(create_edge(edge_settings(tmp_path, role, role, origin.url, metrics_token=TOKEN)))
            )
            for role in ("shield", "edge")
        }
        server, thread = start_exporter(0, registry, host="127.0.0.1", token=TOKEN)
        stack.callback(thread.join, 5)
        stack.callback(server.server_close)
        stack.callback(server.shutdown)
        worker = f"http://127.0.0.1:{server.server_port}/metrics"
        services = {"ingest": ingest.url, "origin": origin.url, "shield": nodes["shield"].url,
                    "edge": nodes["edge"].url, "worker_metrics": {"worker-1": worker}}  # fmt: skip
        for url in [*(f"{u}/metrics" for u in services.values() if isinstance(u, str)), worker]:
            assert httpx.get(url).status_code == 401, url
        prom = start_prometheus(tmp_path, services, rules_dir=None, token_file=token_file)
        stack.callback(prom.proc.wait, 30)
        stack.callback(prom.proc.terminate)
        deadline = time.monotonic() + 60
        health: dict[str, str] = {}
        while time.monotonic() < deadline:
            targets = prom.get("/api/v1/targets")["activeTargets"]
            health = {t["labels"]["job"]: f"{t['health']} {t['lastError']}" for t in targets}
            if set(health) == JOBS and all(h.startswith("up") for h in health.values()):
                break
            time.sleep(0.5)
        else:
            raise AssertionError(health)
        assert prom.query('vodstack_transcoder_probe_total{job="transcoder"}')["result"]
