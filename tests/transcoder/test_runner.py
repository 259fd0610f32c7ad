"""transcoder.encode.runner: ffmpeg's limits fire whether it prints or not, and it never outlives its run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from media.sandbox import Limits
from tests.processes import wait_gone
from transcoder.encode.runner import run_ffmpeg
from transcoder.errors import EncodeFailed

PROMPTLY = 15.0  # generous: the limits under test are about 1 s


def test_the_time_limit_fires_on_a_command_that_prints_nothing() -> None:
    # The poster and previews commands print no progress: their limit must not depend on it.
    started = time.monotonic()
    with pytest.raises(EncodeFailed) as caught:
        run_ffmpeg(["sleep", "6"], timeout=1)
    assert caught.value.reason == "timeout"
    assert caught.value.message == "ffmpeg stopped: time limit of 1 s exceeded"
    # The raise itself says the watchdog fired: sleep ending on its own would have exited 0.
    assert time.monotonic() - started < PROMPTLY


def test_a_failure_says_what_ffmpeg_said() -> None:
    with pytest.raises(EncodeFailed) as caught:
        run_ffmpeg(["sh", "-c", "echo 'Invalid data found' >&2; exit 187"], timeout=30)
    assert caught.value.message == "ffmpeg failed (exit 187): Invalid data found"


def test_a_run_over_its_memory_limit_says_so() -> None:
    code = "import sys; b = bytearray(2 * 1024**3)"
    with pytest.raises(EncodeFailed) as caught:
        run_ffmpeg(["python3", "-c", code], timeout=60, limits=Limits(memory_bytes=256 * 2**20))
    assert caught.value.message.startswith("ffmpeg needed more than 256 MiB of memory: ")


def test_ffmpeg_sees_no_secret_of_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VODSTACK_STORAGE_S3_SECRET_KEY", "s3secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws")
    run_ffmpeg(["sh", "-c", 'test -z "$VODSTACK_STORAGE_S3_SECRET_KEY$AWS_SECRET_ACCESS_KEY"'], timeout=30)
    with pytest.raises(EncodeFailed):  # the check can fail: a variable set by the caller is seen
        run_ffmpeg(["sh", "-c", 'test -z "$PATH"'], timeout=30)


def test_a_progress_callback_that_raises_leaves_nothing_running() -> None:
    def explode(_: object) -> None:
        raise RuntimeError("reporting failed")

    script = "sleep 60 & echo $! >&2; while true; do echo out_time_us=1000000; echo progress=continue; sleep 0.1; done"
    started = time.monotonic()
    with pytest.raises(RuntimeError):
        run_ffmpeg(["sh", "-c", script], duration=10, timeout=60, on_progress=explode)
    assert time.monotonic() - started < PROMPTLY


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_worker_stopped_mid_run_takes_its_ffmpeg_with_it(tmp_path: Path, how: signal.Signals) -> None:
    # A Celery pool process running a task: revoke(terminate=True) sends it SIGTERM, whose default
    # action (Celery resets it in pool processes) ends it with no `finally`; an OOM kill is SIGKILL.
    pidfile = tmp_path / "ffmpeg.pid"
    worker_code = textwrap.dedent(
        f"""
        from transcoder.encode.runner import run_ffmpeg
        run_ffmpeg(["sh", "-c", "echo $$ > {pidfile}.tmp && mv {pidfile}.tmp {pidfile} && exec sleep 60"], timeout=120)
        """
    )
    worker = subprocess.Popen([sys.executable, "-c", worker_code], cwd=os.getcwd())
    try:
        deadline = time.monotonic() + PROMPTLY
        while not pidfile.exists():
            assert time.monotonic() < deadline and worker.poll() is None
            time.sleep(0.05)
        ffmpeg = int(pidfile.read_text())
        worker.send_signal(how)
        assert worker.wait(timeout=PROMPTLY) == -how
        assert wait_gone(ffmpeg)
    finally:
        worker.kill()
        worker.wait()
