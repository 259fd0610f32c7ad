"""Process checks for tests of what dies with what (the media sandbox, ffmpeg runs, probes)."""

from __future__ import annotations

import time


def running(pid: int) -> bool:
    """False once `pid` runs no more: gone, or a zombie left for init to reap."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid: int, seconds: float = 15.0) -> bool:
    """True once `pid` runs no more; False if it still runs after `seconds` (a kill takes a moment)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not running(pid):
            return True
        time.sleep(0.05)
    return False
