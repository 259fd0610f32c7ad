"""`vodstack status`: says "not running" with exit 1 unless the stack that wrote services.json is
alive and its services answer. (A live stack answering: tests/vodstack/test_restart.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vodstack.cli import main
from vodstack.supervisor import SERVICES_FILE, free_port


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VODSTACK_DATA_DIR", str(tmp_path))  # restored after the test: main() sets it
    return tmp_path


def _services(data: Path, pid: int) -> Path:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    path = data / SERVICES_FILE
    path.write_text(json.dumps({"pid": pid, "ingest": url, "origin": url, "shield": url, "edge": url}))
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_no_services_file_is_not_running(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(data), "status"]) == 1
    assert "vodstack is not running" in capsys.readouterr().err


def test_a_dead_stacks_services_file_is_not_running_and_is_removed(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _services(data, _dead_pid())
    assert main(["--data-dir", str(data), "status"]) == 1
    assert "vodstack is not running" in capsys.readouterr().err
    assert not path.exists()


def test_a_live_process_whose_services_do_not_answer_is_not_running(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _services(data, os.getpid())
    assert main(["--data-dir", str(data), "status"]) == 1
    err = capsys.readouterr().err
    assert "not running" in err and "ingest" in err
    assert path.exists()  # its process lives: not ours to remove


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", '{"pid": "7"}'])
def test_an_unreadable_services_file_is_not_running(
    data: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    (data / SERVICES_FILE).write_text(content)
    assert main(["--data-dir", str(data), "status"]) == 1
    assert "vodstack is not running" in capsys.readouterr().err
