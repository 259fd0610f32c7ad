"""The dashboards: committed JSON is what the code renders, and every panel query parses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from observability.dashboards import DASHBOARDS, rendered_files

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
    }


@pytest.mark.prometheus
def test_every_panel_query_parses(tmp_path: Path) -> None:
    # promtool has no offline query parser; a recording rule per query gets the same PromQL parser.
    lines = ["groups:", "  - name: panels", "    rules:"]
    for board in DASHBOARDS:
        for panel in board.panels:
            for i, query in enumerate(panel.queries):
                lines += [f"      - record: panel_{len(lines)}_{i}", f"        expr: {json.dumps(query.expr)}"]
    (tmp_path / "panels.yml").write_text("\n".join(lines) + "\n")
    result = subprocess.run(["promtool", "check", "rules", "panels.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
