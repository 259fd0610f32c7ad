"""The dashboards: committed JSON is what the code renders, and every panel query parses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from observability.dashboards import DASHBOARDS, all_queries, rendered_files
from observability.promql import evaluable, filter_edge

DASHBOARD_DIR = Path(__file__).resolve().parents[2] / "infra" / "grafana" / "dashboards"


def test_committed_dashboards_match_the_code() -> None:
    committed = {p.name: p.read_text() for p in DASHBOARD_DIR.glob("*.json")}
    assert committed == rendered_files(), "run: python -m observability.dashboards infra/grafana/dashboards"


def test_panels_have_queries_and_a_grid_place() -> None:
    for name, text in rendered_files().items():
        board = json.loads(text)
        places = {(p["gridPos"]["x"], p["gridPos"]["y"]) for p in board["panels"]}
        assert len(places) == len(board["panels"]), name
        assert all(p["targets"] and all(t["expr"] for t in p["targets"]) for p in board["panels"]), name
    assert {d.uid for d in DASHBOARDS} == {
        "vodstack-overview",
        "vodstack-ingest",
        "vodstack-transcode",
        "vodstack-delivery",
        "vodstack-storage",
        "vodstack-viewer",
    }


@pytest.mark.prometheus
def test_every_panel_query_parses(tmp_path: Path) -> None:
    # promtool has no offline query parser; a recording rule per query gets the same PromQL parser.
    lines = ["groups:", "  - name: panels", "    rules:"]
    for _, _, expr in all_queries():
        lines += [f"      - record: panel_{len(lines)}", f"        expr: {json.dumps(expr)}"]
    (tmp_path / "panels.yml").write_text("\n".join(lines) + "\n")
    result = subprocess.run(["promtool", "check", "rules", "panels.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_tier_and_node_variables_narrow_every_edge_selector() -> None:
    assert (
        filter_edge('sum(rate(vodstack_edge_requests_total{cache_status="hit"}[5m])) / vodstack_edge_cache_bytes')
        == 'sum(rate(vodstack_edge_requests_total{job=~"$tier", node=~"$node", cache_status="hit"}[5m]))'
        ' / vodstack_edge_cache_bytes{job=~"$tier", node=~"$node"}'
    )
    assert evaluable('x{job=~"$tier", node=~"$node"}') == 'x{job=~".*", node=~".*"}'
    delivery = json.loads(rendered_files()["vodstack-delivery.json"])
    assert [v["name"] for v in delivery["templating"]["list"]] == ["tier", "node"]
    exprs = [t["expr"] for p in delivery["panels"] for t in p["targets"]]
    assert sum("$node" in e for e in exprs) >= 10
    # Panels that compare tiers with each other are not narrowed to one tier.
    offload = next(p for p in delivery["panels"] if p["title"] == "Origin offload")
    assert all("$tier" not in t["expr"] for t in offload["targets"])
