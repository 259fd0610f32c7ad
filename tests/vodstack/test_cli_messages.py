"""The `vodstack` command line as a creator meets it: global options on either side of the
subcommand, one-line messages with the fix (never a traceback) when the stack is missing, stopped
or refuses the key, and `vodstack status` naming each service up or down. Run as subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ingest.app import create_app
from tests.ingest.conftest import make_settings
from tests.ingest.harness import ServerThread
from vodstack.cli import build_parser
from vodstack.supervisor import SERVICES_FILE, free_port


def _vodstack(*argv: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VODSTACK_DATA_DIR"}
    env["HOME"] = str(home)  # the default data dir (~/.vodstack) is the test's own
    return subprocess.run(
        [sys.executable, "-m", "vodstack", *argv], capture_output=True, text=True, timeout=120, env=env
    )


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["--data-dir", "/x", "up"],
        ["up", "--data-dir", "/x"],
        ["upload", "clip.mp4", "--data-dir", "/x"],
        ["upload", "--data-dir", "/x", "clip.mp4"],
        ["status", "--data-dir", "/x"],
        ["keys", "create", "--name", "n", "--scope", "upload", "--data-dir", "/x"],
        ["webhooks", "list", "--data-dir", "/x"],
    ],
)
def test_the_data_dir_is_accepted_before_or_after_the_subcommand(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).data_dir == "/x"


def test_a_subcommand_without_the_option_keeps_the_one_before_it() -> None:
    assert build_parser().parse_args(["--data-dir", "/x", "status"]).data_dir == "/x"
    assert build_parser().parse_args(["status"]).data_dir is None


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\0" * 1024)  # never reaches a probe: these uploads are refused before
    return path


def test_upload_without_a_running_stack_says_how_to_start_one(tmp_path: Path, clip: Path) -> None:
    data = tmp_path / "elsewhere"
    line = _one_line(_vodstack("upload", str(clip), "--data-dir", str(data), home=tmp_path))
    assert f"no running stack in {data}" in line and "vodstack up" in line and "--data-dir" in line


def test_upload_to_a_stopped_stack_says_it_cannot_reach_it_and_names_the_data_dir(tmp_path: Path, clip: Path) -> None:
    data = tmp_path / "stack"
    data.mkdir()
    url = f"http://127.0.0.1:{free_port()}"  # the stack stopped: nothing listens
    (data / SERVICES_FILE).write_text(json.dumps({"pid": os.getpid(), "ingest": url, "token": "t"}))
    line = _one_line(_vodstack("--data-dir", str(data), "upload", str(clip), home=tmp_path))
    assert f"cannot reach the ingest API at {url}" in line
    assert f"vodstack --data-dir {data} status" in line and f"vodstack --data-dir {data} up" in line


def test_upload_hint_for_the_default_data_dir_has_no_option(tmp_path: Path, clip: Path) -> None:
    data = tmp_path / ".vodstack"
    data.mkdir()
    url = f"http://127.0.0.1:{free_port()}"
    (data / SERVICES_FILE).write_text(json.dumps({"pid": os.getpid(), "ingest": url, "token": "t"}))
    line = _one_line(_vodstack("upload", str(clip), home=tmp_path))
    assert "`vodstack status`" in line and "--data-dir" not in line


def test_upload_with_a_refused_key_says_which_key_to_use(tmp_path: Path, clip: Path) -> None:
    settings = make_settings(tmp_path, "filesystem")
    with ServerThread(create_app(settings)) as server:
        data = tmp_path / "stack"
        data.mkdir()
        (data / SERVICES_FILE).write_text(json.dumps({"pid": os.getpid(), "ingest": server.url, "token": "stale"}))
        line = _one_line(_vodstack("upload", str(clip), "--data-dir", str(data), home=tmp_path))
    assert "refused the key (401)" in line and "--token" in line and "vodstack keys create" in line


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def healthy_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def _services(data: Path, workers: dict[str, str] | None = None, **urls: str) -> None:
    data.mkdir(exist_ok=True)
    info = {"pid": os.getpid(), "data_dir": str(data), "worker_metrics": workers or {}, **urls}
    (data / SERVICES_FILE).write_text(json.dumps(info))


def test_status_shows_each_service_and_worker_up_or_down(tmp_path: Path, healthy_url: str) -> None:
    data = tmp_path / "stack"
    dead = f"http://127.0.0.1:{free_port()}/metrics"
    workers = {"worker-1": f"{healthy_url}/metrics", "worker-2": dead}  # any answer (here a 404) is alive
    _services(data, workers, ingest=healthy_url, origin=healthy_url, shield=healthy_url, edge=healthy_url)
    proc = _vodstack("status", "--data-dir", str(data), home=tmp_path)
    assert proc.returncode == 0, proc  # a worker is restarted by `vodstack up`: shown, not failed on
    rows = {line.split()[0]: line.split(maxsplit=2)[-1] for line in proc.stdout.splitlines()[1:7]}
    assert rows == {
        "ingest": "up", "origin": "up", "shield": "up", "edge": "up", "worker-1": "up",
        "worker-2": "DOWN (restarting?)",
    }, proc.stdout  # fmt: skip


def test_status_names_the_service_that_is_down(tmp_path: Path, healthy_url: str) -> None:
    data = tmp_path / "stack"
    dead = f"http://127.0.0.1:{free_port()}"
    _services(data, ingest=healthy_url, origin=healthy_url, shield=dead, edge=healthy_url)
    proc = _vodstack("status", "--data-dir", str(data), home=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "no answer from shield" in proc.stderr
    assert any(line.split()[0] == "shield" and "DOWN" in line for line in proc.stderr.splitlines()), proc.stderr
    assert any(line.split()[0] == "edge" and line.endswith("up") for line in proc.stderr.splitlines()), proc.stderr
