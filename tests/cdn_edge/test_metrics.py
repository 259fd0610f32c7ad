"""/metrics of edge and shield: status classes, bytes by cache status and from upstream per node,
and every counter present at 0 before any traffic."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cdn_edge.app import create_app as create_edge
from cdn_edge.metrics import status_class
from tests.cdn_edge.conftest import serving
from tests.cdn_edge.edge_stack import ASSET, SEGMENT, SEGMENT_BYTES, Instrumented, edge_settings, make_origin


@pytest.mark.parametrize(
    ("status", "label"),
    [(200, "2xx"), (206, "2xx"), (304, "3xx"), (404, "4xx"), (416, "4xx"), (502, "5xx"), (504, "5xx"), (99, "1xx")],
)
def test_status_class(status: int, label: str) -> None:
    assert status_class(status) == label


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{url}/metrics").raise_for_status().text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_counters_exist_at_zero_before_traffic(tmp_path: Path) -> None:
    app = create_edge(edge_settings(tmp_path, "edge-1", "edge", "http://127.0.0.1:9"))
    with serving(app) as edge:
        samples = scrape(edge.url)
    node = {"node": "edge-1"}
    assert value(samples, "vodstack_edge_collapsed_requests_total", **node) == 0
    assert value(samples, "vodstack_edge_evictions_total", **node, tier="memory") == 0
    assert value(samples, "vodstack_edge_evictions_total", **node, tier="disk") == 0
    assert value(samples, "vodstack_edge_upstream_received_bytes_total", **node) == 0
    assert value(samples, "vodstack_edge_purged_objects_total", **node) == 0
    for status in ("hit", "stale", "miss", "collapsed", "error"):
        assert value(samples, "vodstack_edge_served_bytes_total", **node, cache_status=status) == 0
        for code in ("2xx", "3xx", "4xx", "5xx"):
            assert value(samples, "vodstack_edge_requests_total", **node, cache_status=status, code=code) == 0
    for outcome in ("fetched", "revalidated", "error"):
        assert value(samples, "vodstack_edge_upstream_fetches_total", **node, outcome=outcome) == 0


def test_bytes_by_cache_status_upstream_bytes_and_status_classes(tmp_path: Path) -> None:
    origin = Instrumented(make_origin(tmp_path))
    size = len(SEGMENT_BYTES)
    with ExitStack() as stack:
        o = stack.enter_context(serving(origin))
        shield = stack.enter_context(serving(create_edge(edge_settings(tmp_path, "shield", "shield", o.url))))
        edge1 = stack.enter_context(serving(create_edge(edge_settings(tmp_path, "edge-1", "edge", shield.url))))
        edge2 = stack.enter_context(serving(create_edge(edge_settings(tmp_path, "edge-2", "edge", shield.url))))
        for edge in (edge1, edge2):
            for _ in range(3):  # a miss, then hits
                assert httpx.get(f"{edge.url}/{SEGMENT}").content == SEGMENT_BYTES
        assert httpx.get(f"{edge1.url}/{SEGMENT}", headers={"range": "bytes=0-99"}).status_code == 206
        etag = httpx.get(f"{edge1.url}/{SEGMENT}").headers["etag"]
        assert httpx.get(f"{edge1.url}/{SEGMENT}", headers={"if-none-match": etag}).status_code == 304
        missing = httpx.get(f"{edge1.url}/{ASSET}/360p/missing.m4s")
        assert missing.status_code == 404
        e1, e2, sh = scrape(edge1.url), scrape(edge2.url), scrape(shield.url)
        origin.mode = "error"
        assert httpx.get(f"{edge1.url}/{ASSET}/360p/other.m4s").status_code >= 500
        down = scrape(edge1.url)

    served = "vodstack_edge_served_bytes_total"
    received = "vodstack_edge_upstream_received_bytes_total"
    requests = "vodstack_edge_requests_total"
    assert value(e1, served, node="edge-1", cache_status="miss") == size + len(missing.content)
    assert value(e1, received, node="edge-1") == size + len(missing.content)
    assert value(e2, served, node="edge-2", cache_status="miss") == size
    assert value(e2, received, node="edge-2") == size
    assert value(e1, served, node="edge-1", cache_status="hit") == 3 * size + 100
    # The second edge's miss was the shield's hit: the origin sent the segment once.
    assert value(sh, served, node="shield", cache_status="miss") == size + len(missing.content)
    assert value(sh, served, node="shield", cache_status="hit") == size
    assert value(sh, received, node="shield") == size + len(missing.content)
    assert origin.counts[SEGMENT] == 1

    assert value(e1, requests, node="edge-1", cache_status="hit", code="2xx") == 4  # two GETs, a range, one more
    assert value(e1, requests, node="edge-1", cache_status="hit", code="3xx") == 1
    # A missing object is the client's error, not the node's: 4xx, whatever path answered it.
    assert sum(v for (n, labels), v in e1.items() if n == requests and ("code", "4xx") in labels) == 1
    assert sum(v for (n, labels), v in e1.items() if n == requests and ("code", "5xx") in labels) == 0
    assert sum(v for (n, labels), v in down.items() if n == requests and ("code", "5xx") in labels) == 1
