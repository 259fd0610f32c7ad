"""Which CMCD tracker the edge runs (cdn_edge.qoe.create_tracker): the compiled one when it was built,
the reference when it was not (a machine without a C compiler), and it says which."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from cdn_edge.app import create_app
from cdn_edge.qoe import QoeMetrics, QoeTracker, create_tracker
from tests.cdn_edge.conftest import serving
from tests.cdn_edge.edge_stack import SEGMENT, SEGMENT_BYTES, ManualClock, edge_settings, make_origin
from tests.cdn_edge.qoe_implementations import compiled


def implementation(registry: CollectorRegistry) -> str | None:
    for metric in registry.collect():
        if metric.name == "vodstack_qoe_implementation":
            return metric.samples[0].labels["implementation"]
    return None


@pytest.fixture
def without_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cdn_edge.qoe_compiled", None)  # import raises ImportError


@pytest.mark.skipif(compiled() is None, reason="cdn_edge.qoe_compiled was not built")
def test_the_compiled_tracker_runs_when_built(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    with caplog.at_level(logging.INFO, "cdn_edge.qoe"):
        tracker = create_tracker(QoeMetrics("edge", registry), ManualClock())
    assert type(tracker).__module__ == "cdn_edge.qoe_compiled"
    assert implementation(registry) == "compiled"
    assert "compiled CMCD tracker" in caplog.text


@pytest.mark.usefixtures("without_extension")
def test_without_the_extension_the_reference_runs_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    with caplog.at_level(logging.INFO, "cdn_edge.qoe"):
        tracker = create_tracker(QoeMetrics("edge", registry), ManualClock())
    assert type(tracker) is QoeTracker
    assert implementation(registry) == "python"
    assert "is not built" in caplog.text
    with pytest.raises(ImportError):
        create_tracker(QoeMetrics("edge", CollectorRegistry()), ManualClock(), implementation="compiled")


@pytest.mark.usefixtures("without_extension")
def test_an_edge_without_the_extension_observes_cmcd_hits(tmp_path: Path) -> None:
    clock = ManualClock()
    app = create_app(edge_settings(tmp_path, "edge", "edge", "http://upstream"), clock=clock,
                     transport=httpx.ASGITransport(make_origin(tmp_path)))  # fmt: skip
    assert type(app.state.qoe) is QoeTracker
    with serving(app) as server, httpx.Client(base_url=server.url) as client:
        for _ in range(3):
            client.get(f"/{SEGMENT}").raise_for_status()
        before = app.state.hits.direct
        reply = client.get(f"/{SEGMENT}?CMCD=br%3D730%2Cot%3Dv%2Csid%3D%22s1%22")
        assert reply.content == SEGMENT_BYTES and app.state.hits.direct == before + 1
        metrics = client.get("/metrics").text
    assert list(app.state.qoe.sessions) == ["s1"]
    assert 'vodstack_qoe_implementation_info{implementation="python",node="edge"} 1.0' in metrics
