"""The one module that runs processes: ffmpeg with progress reporting, a time limit and readable errors."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from transcoder.errors import EncodeFailed
from transcoder.progress import Progress, ProgressParser

STDERR_TAIL_LINES = 20
CANCELLED = "cancelled"  # EncodeFailed's reason when should_stop ended the run


# The query of a URL in ffmpeg's messages: for a presigned URL, a credential to read the original.
URL_QUERY = re.compile(r"""(https?://[^\s?"']+)\?[^\s"']+""")


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
) -> None:
    """Run ffmpeg to completion. Raises EncodeFailed (with its stderr summarised) or on timeout."""
    started = time.monotonic()
    proc = subprocess.Popen(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    reader = threading.Thread(target=lambda: tail.extend(proc.stderr or ()), daemon=True)
    reader.start()
    parser = ProgressParser(duration)
    stopped_reason = None
    finished = False
    try:
        for line in proc.stdout or ():
            progress = parser.feed(line)
            if progress is not None and on_progress is not None:
                on_progress(progress)
            if timeout is not None and time.monotonic() - started > timeout:
                stopped_reason = f"time limit of {timeout:.0f} s exceeded"
                break
            if should_stop is not None and progress is not None and should_stop():
                stopped_reason = CANCELLED
                break
        else:
            finished = True
    finally:
        if not finished:
            proc.kill()  # stopped, or the progress callback raised: never leave ffmpeg behind
        code = proc.wait()
        reader.join(timeout=5)
        for pipe in (proc.stdout, proc.stderr):  # ours to close: Popen only does in its `with` block
            if pipe is not None:
                pipe.close()
    if stopped_reason == CANCELLED:
        raise EncodeFailed("the job was cancelled", reason=CANCELLED)
    if stopped_reason is not None:
        raise EncodeFailed(f"ffmpeg stopped: {stopped_reason}", reason="timeout")
    if code != 0:
        raise EncodeFailed(f"ffmpeg failed (exit {code}): {summarise_stderr(tail)}")
