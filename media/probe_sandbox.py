"""The probe in the sandbox: untrusted originals are demuxed and decoded in a child process, never in
the ingest API or the worker themselves.

The child is `python -m media.probe_cli SOURCE` (a lean module: it starts in a fraction of the
time this one would), which prints its answer as one JSON object. `probe_isolated` runs that child under media.sandbox's
limits and turns whatever befalls it (a hang, a crash, a kill, an allocation failure, garbage on
stdout) into InvalidMedia with a reason a creator can read. The caller only ever waits on a pipe.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from media.errors import InvalidMedia, SourceUnreachable
from media.probe import MediaInfo, ProbeLimits
from media.relay import RELAY
from media.sandbox import URL_QUERY, Limits, Outcome, failure, run
from media.settings import ProbeSettings
from storage.objects import ObjectStore

log = logging.getLogger(__name__)

# The root our packages are imported from, so the child runs this very code.
CODE_ROOT = str(Path(__file__).resolve().parent.parent)
# The answer is a few hundred bytes; anything longer is not an answer.
MAX_ANSWER = 1 << 20
MAX_MESSAGE = 300
# A presigned URL handed to the probe outlives the probe's own time limit by this much.
URL_MARGIN = timedelta(minutes=1)
# The name of a downloaded original in a job's scratch directory (transcoder.encode.source reads it too).
ORIGINAL_NAME = "original"
_MEDIA_INFO = TypeAdapter(MediaInfo)


def sandbox_limits(settings: ProbeSettings) -> Limits:
    return Limits(
        wall_seconds=settings.wall_seconds,
        cpu_seconds=settings.cpu_seconds,
        memory_bytes=settings.memory_mb * 2**20,
    )


def probe_isolated(
    source: str | os.PathLike[str], settings: ProbeSettings, limits: ProbeLimits | None = None
) -> MediaInfo:
    """Describe the original (a local path or a URL) from a sandboxed child, or raise InvalidMedia."""
    command = settings.command or [sys.executable, "-m", "media.probe_cli"]
    argv = [*command, os.fspath(source), "--limits", json.dumps(asdict(limits or ProbeLimits()))]
    pythonpath = os.pathsep.join(p for p in (CODE_ROOT, os.environ.get("PYTHONPATH")) if p)
    # glibc reserves 64 MiB of address space per malloc arena, up to 8 per core: under RLIMIT_AS a
    # decoder's threads would run out of address space on a many-core machine before using any memory.
    env = {"PYTHONPATH": pythonpath, "MALLOC_ARENA_MAX": "2"}
    outcome, out, err = run(argv, sandbox_limits(settings), env=env, max_output=MAX_ANSWER)
    stderr = err.decode(errors="replace").splitlines()
    if outcome.ok:
        answer = _parse(out)
        if isinstance(answer, MediaInfo):
            return answer
        if answer is not None:
            raise answer
    _log_failure(source, outcome, stderr)
    raise _failed(outcome, stderr)


def probe_stored(
    store: ObjectStore,
    bucket: str,
    key: str,
    settings: ProbeSettings,
    limits: ProbeLimits | None = None,
    *,
    scratch: Path | None = None,
) -> MediaInfo:
    """Probe a stored object in the sandbox: by its path, else by a presigned URL, else (no URL, or
    the URL refused or unreachable: clock skew, a proxy) from a copy downloaded to `scratch/original`,
    which then stays for the caller (transcoder.encode.source uses it), or to a temporary directory."""
    local = store.local_path(bucket, key)
    if local is not None:
        return probe_isolated(local, settings, limits)
    validity = timedelta(seconds=settings.wall_seconds) + URL_MARGIN
    url = store.read_url(bucket, key, validity)
    if url is not None:
        try:
            # Through the loopback relay: the presigned URL never reaches the child's command line.
            return probe_isolated(RELAY.register(url, validity), settings, limits)
        except SourceUnreachable as exc:
            log.warning("probe of %s/%s by URL failed (%s); probing a downloaded copy", bucket, key, exc.message)
    if scratch is not None:
        return probe_isolated(download_original(store, bucket, key, scratch), settings, limits)
    with tempfile.TemporaryDirectory(prefix="vodstack-probe-") as tmp:
        return probe_isolated(download_original(store, bucket, key, Path(tmp)), settings, limits)


def download_original(store: ObjectStore, bucket: str, key: str, scratch: Path) -> Path:
    """`scratch/original`, downloaded whole (under another name first: it exists only complete)."""
    dest = scratch / ORIGINAL_NAME
    partial = scratch / (ORIGINAL_NAME + ".part")
    store.download(bucket, key, partial)
    partial.replace(dest)
    return dest


def _parse(out: bytes) -> MediaInfo | InvalidMedia | SourceUnreachable | None:
    """The child's answer; None when it is not one (the child is not trusted to print what it should)."""
    try:
        payload = json.loads(out)
        if "info" in payload:
            return _MEDIA_INFO.validate_python(payload["info"])
        if "unreachable" in payload:
            message = _shown(str(payload["unreachable"]["message"]))
            return SourceUnreachable(f"the original could not be fetched by its URL ({message})")
        invalid = payload["invalid"]
        message, reason = _shown(str(invalid["message"])), str(invalid["reason"])[:40]
    except (ValueError, TypeError, KeyError, ValidationError):
        return None
    return InvalidMedia(message, reason=reason)


def _shown(message: str) -> str:
    """A message of the child as it may be shown: short, and without a URL's query (a credential)."""
    return URL_QUERY.sub(r"\1?...", message[:MAX_MESSAGE])


def _failed(outcome: Outcome, stderr: list[str]) -> InvalidMedia:
    limits = outcome.limits
    why = failure(outcome, stderr)
    if outcome.timed_out:
        return InvalidMedia(f"the file could not be read within {limits.wall_seconds:g} s", reason="probe_timeout")
    if why is None:
        return InvalidMedia("the file could not be read: the reader gave no usable answer", reason="probe_failed")
    if why.startswith("used more than"):
        return InvalidMedia(f"reading the file took more than {limits.cpu_seconds:g} s of CPU time", reason="probe_cpu")
    if why.startswith("needed more than"):
        return InvalidMedia(f"reading the file {why}", reason="probe_memory")
    return InvalidMedia(f"the file could not be read: the reader {why}", reason="probe_crashed")


def _log_failure(source: str | os.PathLike[str], outcome: Outcome, stderr: list[str]) -> None:
    shown = URL_QUERY.sub(r"\1?...", os.fspath(source))
    tail = URL_QUERY.sub(r"\1?...", " | ".join(stderr[-5:]))
    log.warning("probe of %s failed: %s (%.1f s); stderr: %s", shown, failure(outcome, stderr), outcome.seconds, tail)
