"""promtool over infra/prometheus: the scrape configurations parse, the rules parse, and every
alert has a unit test that passes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from observability.scrape import RULES_DIR, scrape_config

pytestmark = pytest.mark.prometheus

PROM_DIR = Path(__file__).resolve().parents[2] / "infra" / "prometheus"
PROMTOOL = "promtool"


def promtool(*args: str, cwd: Path = PROM_DIR) -> str:
    result = subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def alert_names() -> set[str]:
    names = set()
    for path in RULES_DIR.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {rule["alert"] for rule in group["rules"] if "alert" in rule}
    return names


def test_compose_scrape_config_is_valid() -> None:
    out = promtool("check", "config", "prometheus.yml")
    assert "SUCCESS" in out


def test_rules_are_valid() -> None:
    promtool("check", "rules", *[str(p) for p in sorted(RULES_DIR.glob("*.yml"))])


def test_every_alert_has_a_runbook_and_a_passing_unit_test() -> None:
    tests = sorted((PROM_DIR / "tests").glob("*.yml"))
    promtool("test", "rules", *[str(p.relative_to(PROM_DIR)) for p in tests])
    tested = set()
    for path in tests:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    tested.add(check["alertname"])
    assert alert_names() - tested == set(), "alerts without a test that makes them fire"
    for path in RULES_DIR.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    assert rule["annotations"].get("runbook"), rule["alert"]


def test_local_stack_config_from_services_json(tmp_path: Path) -> None:
    services = {
        "ingest": "http://127.0.0.1:8700",
        "origin": "http://127.0.0.1:8701",
        "shield": "http://127.0.0.1:8702",
        "edge": "http://127.0.0.1:8703",
        "worker_metrics": {"worker-1": "http://127.0.0.1:41001/metrics", "worker-2": "http://127.0.0.1:41002/metrics"},
    }
    config = scrape_config(services, interval="2s")
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs == {
        "ingest": ["127.0.0.1:8700"],
        "origin": ["127.0.0.1:8701"],
        "shield": ["127.0.0.1:8702"],
        "edge": ["127.0.0.1:8703"],
        "transcoder": ["127.0.0.1:41001", "127.0.0.1:41002"],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(json.dumps(config))
    promtool("check", "config", str(path), cwd=tmp_path)
    # With the ingest's metrics token: still a valid configuration.
    token = tmp_path / "ingest-metrics-token"
    token.write_text("scrape-me")
    path.write_text(json.dumps(scrape_config(services, interval="2s", ingest_token_file=token)))
    promtool("check", "config", str(path), cwd=tmp_path)
