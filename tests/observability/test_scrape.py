"""The scrape configuration for the embedded stack reaches a token-protected ingest /metrics."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

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


SERVICES = {
    "ingest": "http://127.0.0.1:8700",
    "origin": "http://127.0.0.1:8701",
    "shield": "http://127.0.0.1:8702",
    "edge": "http://127.0.0.1:8703",
    "worker_metrics": {"w1": "http://127.0.0.1:9100/metrics", "w2": "http://127.0.0.1:9101/metrics"},
}


def _auth(config: dict[str, object]) -> dict[str, object]:
    return {job["job_name"]: job.get("authorization") for job in config["scrape_configs"]}  # type: ignore[attr-defined]


def test_a_shared_token_file_is_sent_by_every_job_and_one_job_may_have_its_own(tmp_path: Path) -> None:
    shared, edge = tmp_path / "metrics-token", tmp_path / "edge-token"
    auth = _auth(scrape_config(SERVICES, rules_dir=None, token_file=shared, token_files={"edge": edge}))
    assert set(auth) == {"ingest", "origin", "shield", "edge", "transcoder"}
    for job in ("ingest", "origin", "shield", "transcoder"):
        assert auth[job] == {"type": "Bearer", "credentials_file": str(shared)}, job
    assert auth["edge"] == {"type": "Bearer", "credentials_file": str(edge)}
    # --ingest-token-file keeps working beside the shared file.
    auth = _auth(scrape_config(SERVICES, rules_dir=None, token_file=shared, ingest_token_file=edge))
    assert auth["ingest"]["credentials_file"] == str(edge)  # type: ignore[index]
    assert auth["origin"]["credentials_file"] == str(shared)  # type: ignore[index]
    # Without any: no authorization anywhere (open /metrics, as by default).
    assert set(_auth(scrape_config(SERVICES, rules_dir=None)).values()) == {None}
    with pytest.raises(ValueError, match="no such job"):
        scrape_config(SERVICES, rules_dir=None, token_files={"edges": edge})


def test_command_line_token_files(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    services = tmp_path / "services.json"
    services.write_text(json.dumps(SERVICES))
    argv = [
        str(services),
        "--metrics-token-file",
        str(tmp_path / "all"),
        "--token-file",
        f"transcoder={tmp_path / 'w'}",
    ]
    assert main(argv) == 0
    auth = _auth(json.loads(capsys.readouterr().out))
    assert auth["origin"]["credentials_file"] == str(tmp_path / "all")  # type: ignore[index]
    assert auth["transcoder"]["credentials_file"] == str(tmp_path / "w")  # type: ignore[index]
    with pytest.raises(SystemExit):
        main([str(services), "--token-file", "nojob"])
    with pytest.raises(SystemExit):
        main([str(services), "--token-file", "edges=x"])
