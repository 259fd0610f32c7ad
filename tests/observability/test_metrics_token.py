"""/metrics of the origin, the cache nodes and the worker's exporter: open by default, 401 without
the bearer token once their *_METRICS_TOKEN is set, 200 with it; and never a cached object at an
edge in its place (the hit fast path leaves the node's own endpoints to the app)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from cdn_edge.app import create_app as create_edge
from origin.app import create_app as create_origin
from origin.settings import OriginSettings
from storage.filesystem import FilesystemObjectStore
from storage.settings import StorageSettings
from tests.cdn_edge.conftest import serving
from tests.cdn_edge.edge_stack import SEGMENT, edge_settings, make_origin
from traffic.bearer import bearer_matches
from transcoder.worker.exporter import start_exporter

TOKEN = "scrape-me"
GOOD = {"Authorization": f"Bearer {TOKEN}"}
BAD = ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"})


def check(url: str, token: str, marker: str) -> None:
    """`url` (a /metrics) answers as a service with metrics token `token` ("" = open) should."""
    if not token:
        r = httpx.get(url)
        assert r.status_code == 200 and marker in r.text
        return
    for headers in BAD:
        r = httpx.get(url, headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"] == 'Bearer realm="metrics"' and marker not in r.text
    r = httpx.get(url, headers=GOOD)
    assert r.status_code == 200 and marker in r.text


def test_bearer_matches() -> None:
    assert bearer_matches(None, "") and bearer_matches("anything", "")
    assert bearer_matches("Bearer t", "t") and bearer_matches("bearer  t ", "t")
    for header in (None, "", "Bearer", "Bearer ", "Bearer u", "t", "Basic t", "Bearer tt"):
        assert not bearer_matches(header, "t"), header


@pytest.mark.parametrize("token", ["", TOKEN])
def test_origin(tmp_path: Path, token: str) -> None:
    store = FilesystemObjectStore(tmp_path)
    store.ensure_bucket("media")
    settings = OriginSettings(storage=StorageSettings(root=tmp_path), metrics_token=token)
    with serving(create_origin(settings, store=store)) as origin:
        check(f"{origin.url}/metrics", token, "vodstack_origin_")


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[str]:
    with serving(make_origin(tmp_path)) as origin:
        yield origin.url


@pytest.mark.parametrize("role", ["edge", "shield"])
@pytest.mark.parametrize("token", ["", TOKEN])
def test_cache_nodes(tmp_path: Path, upstream: str, role: str, token: str) -> None:
    app = create_edge(edge_settings(tmp_path, role, role, upstream, metrics_token=token))
    with serving(app) as node:  # the edge's own HTTP protocol, as in production
        check(f"{node.url}/metrics", token, "vodstack_edge_")


def test_a_cached_object_named_metrics_is_never_served_in_its_place(tmp_path: Path, upstream: str) -> None:
    app = create_edge(edge_settings(tmp_path, "edge", "edge", upstream, metrics_token=TOKEN))
    memory = app.state.node.cache.memory
    with serving(app) as node:
        for _ in range(200):  # the store completes after the miss is answered
            httpx.get(f"{node.url}/{SEGMENT}").raise_for_status()
            if SEGMENT in memory.entries:
                break
            time.sleep(0.01)
        entry = memory.entries[SEGMENT]
        # A fresh public hit under the key the path /metrics maps to: the fast path would answer it.
        assert memory.put(dataclasses.replace(entry, key="metrics"), memory.bodies[SEGMENT])
        check(f"{node.url}/metrics", TOKEN, "vodstack_edge_")


@pytest.mark.parametrize("token", ["", TOKEN])
def test_worker_exporter(token: str) -> None:
    registry = CollectorRegistry()
    Counter("vodstack_transcoder_probe", "A sample.", registry=registry).inc()
    server, thread = start_exporter(0, registry, host="127.0.0.1", token=token)
    try:
        check(f"http://127.0.0.1:{server.server_port}/metrics", token, "vodstack_transcoder_probe_total")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
