"""The one module that runs ffmpeg: progress reporting, limits that always fire, readable errors.

Every run goes through media.sandbox: ffmpeg leads a process group of its own that dies with the
worker, a watchdog kills it at its time limit whether it prints or not, its CPU time and address
space are bounded, and it sees no secret of the worker's environment.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace

from media.sandbox import URL_QUERY, Limits, SandboxedProcess, failure
from transcoder.encode.progress import Progress, ProgressParser
from transcoder.errors import EncodeFailed

STDERR_TAIL_LINES = 20
# SVT-AV1 (the AV1 rungs) writes its banner and settings to stderr itself, past ffmpeg's -loglevel: level 1
# keeps only its errors, so the tail a failure is summarised from holds what went wrong.
ENCODER_ENV = {"SVT_LOG": "1"}
MAX_STDERR_LINES = 20_000  # kept for a caller that reads stderr: bounds a run that floods it
CANCELLED = "cancelled"  # EncodeFailed's reason when should_stop ended the run
# Address space of one ffmpeg run unless the caller says otherwise. Measured: a 4K source's whole
# ladder (7 rungs, veryfast) on 2 cores fails at 2 GiB and runs at 4 GiB; x264's threads (and their
# stacks and glibc arenas, reserved more than touched) grow with the cores, so does the limit. Far
# below a runaway that would take the machine down.
FFMPEG_MEMORY_BYTES = (16 + (os.cpu_count() or 1)) * 2**30


def summarise_stderr(lines: Sequence[str]) -> str:
    """The last meaningful lines of ffmpeg's stderr, deduplicated, for a failure reason (it ends up
    in logs and in the job's error shown to its creator: URL queries are left out)."""
    seen: list[str] = []
    for line in lines:
        text = URL_QUERY.sub(r"\1?...", line.strip())
        if text and text not in seen:
            seen.append(text)
    return "; ".join(seen[-4:]) or "no error output"


def run_ffmpeg(
    argv: Sequence[str],
    *,
    duration: float = 0.0,
    timeout: float | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    limits: Limits | None = None,
    stderr_lines: list[str] | None = None,
) -> None:
    """Run ffmpeg to completion in the sandbox; `timeout` is its wall-clock limit, `limits` its CPU
    and memory ones. Raises EncodeFailed (with its stderr summarised), on timeout or when stopped.
    `stderr_lines`, when given, receives ffmpeg's stderr (up to MAX_STDERR_LINES lines): what a run
    reports there (loudnorm's measurements) is read by the caller."""
    limits = replace(limits or Limits(memory_bytes=FFMPEG_MEMORY_BYTES), wall_seconds=timeout)
    child = SandboxedProcess(argv, limits, env=ENCODER_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)

    def read_stderr() -> None:
        for line in child.proc.stderr or ():
            tail.append(line)
            if stderr_lines is not None and len(stderr_lines) < MAX_STDERR_LINES:
                stderr_lines.append(line)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    parser = ProgressParser(duration)
    cancelled = finished = False
    try:
        # Ends at ffmpeg's exit, or at once when the watchdog kills its group (the pipe closes).
        for line in child.proc.stdout or ():
            progress = parser.feed(line)
            if progress is not None and on_progress is not None:
                on_progress(progress)
            if should_stop is not None and progress is not None and should_stop():
                cancelled = True
                break
        else:
            finished = True
    finally:
        # Stopped, or the progress callback raised, or this thread is being torn down: never leave
        # ffmpeg (or anything it started) behind. A no-op when it already exited.
        if not finished:
            child.kill()
        outcome = child.wait()
        reader.join(timeout=5)
        for stream in (child.proc.stdout, child.proc.stderr):
            if stream is not None:
                stream.close()
    if cancelled:
        raise EncodeFailed("the job was cancelled", reason=CANCELLED)
    if outcome.timed_out:
        raise EncodeFailed(f"ffmpeg stopped: time limit of {timeout:.0f} s exceeded", reason="timeout")
    if outcome.returncode != 0:
        why = failure(outcome, tail)
        if outcome.returncode > 0 and why is not None and why.startswith("exited"):
            raise EncodeFailed(f"ffmpeg failed (exit {outcome.returncode}): {summarise_stderr(tail)}")
        raise EncodeFailed(f"ffmpeg {why}: {summarise_stderr(tail)}")
