"""The scrape configuration for the embedded stack reaches a token-protected ingest /metrics."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from ingest.app import create_app
from jobs.celery_app import make_celery
from observability.scrape import main, scrape_config
from tests.ingest.conftest import make_settings
from tests.ingest.harness import ServerThread


def test_the_ingest_job_sends_the_token_from_its_file(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "filesystem", metrics_token="scrape-me")
    token_file = tmp_path / "ingest-metrics-token"
    token_file.write_text("scrape-me\n")
    with ServerThread(create_app(settings, celery_app=make_celery(settings.broker))) as srv:
        services = {"ingest": srv.url, "edge": "http://127.0.0.1:8703"}
        config = scrape_config(services, rules_dir=None, ingest_token_file=token_file)
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}
        assert "authorization" not in jobs["edge"]
        auth = jobs["ingest"]["authorization"]
        assert auth == {"type": "Bearer", "credentials_file": str(token_file)}
        # What Prometheus does with it: read the file, send the header.
        header = {"Authorization": f"{auth['type']} {Path(auth['credentials_file']).read_text().strip()}"}
        assert httpx.get(f"{srv.url}/metrics", headers=header).status_code == 200
        assert httpx.get(f"{srv.url}/metrics").status_code == 401
        assert "authorization" not in scrape_config(services, rules_dir=None)["scrape_configs"][0]


def test_command_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    services = tmp_path / "services.json"
    services.write_text(json.dumps({"ingest": "http://127.0.0.1:8700"}))
    assert main([str(services), "--ingest-token-file", str(tmp_path / "t")]) == 0
    job = json.loads(capsys.readouterr().out)["scrape_configs"][0]
    assert job["authorization"]["credentials_file"] == str(tmp_path / "t")
