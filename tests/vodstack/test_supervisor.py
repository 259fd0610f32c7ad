"""Supervisor.stop: what a child leaves running in its process group when it exits (an ffmpeg whose
worker died) does not outlive the stack."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from vodstack.supervisor import Child, StackPlan, Supervisor

# Starts a grandchild (in its process group), announces its pid, and exits on SIGTERM without it.
ORPHANING_CHILD = """
import signal, subprocess, sys, time
grandchild = subprocess.Popen(["sleep", "300"])
open(sys.argv[1], "w").write(str(grandchild.pid))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie waiting for its new parent to reap it is dead


def test_stop_kills_what_a_child_left_in_its_process_group(tmp_path: Path) -> None:
    ports = dict.fromkeys(("ingest", "origin", "shield", "edge"), 0)  # nothing of the plan is started
    supervisor = Supervisor(StackPlan(tmp_path, "127.0.0.1", ports))
    pid_file = tmp_path / "grandchild.pid"
    child = Child("orphaner", [sys.executable, "-c", ORPHANING_CHILD, str(pid_file)], dict(os.environ))
    supervisor.children = [child]
    (tmp_path / "logs").mkdir()
    child.start(tmp_path / "logs")
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and child.proc is not None and child.proc.poll() is None
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    assert _alive(grandchild)

    supervisor.stop()

    assert child.proc is not None and child.proc.returncode == 0  # it exited on SIGTERM, leaving sleep
    deadline = time.monotonic() + 60
    while _alive(grandchild):  # SIGKILL is delivered at once; the reaping is the new parent's
        assert time.monotonic() < deadline, "the orphan survived the stop"
        time.sleep(0.05)
