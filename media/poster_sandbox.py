"""Posters in the sandbox: an uploaded image is decoded and encoded in a child process
(`python -m media.poster_cli`) under media.sandbox's limits, never in the ingest API itself.

`render_isolated` turns whatever befalls the child (a hang, a crash, a kill, an allocation failure,
garbage on stdout) into InvalidMedia with a reason a creator can read, and checks what the child
claims to have written before anyone publishes it: the child is not trusted either.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from media.errors import InvalidMedia
from media.poster import ENCODINGS, Rendered
from media.probe_sandbox import CODE_ROOT, MAX_ANSWER, MAX_MESSAGE
from media.sandbox import Limits, Outcome, failure, run
from media.settings import PosterSettings

log = logging.getLogger(__name__)

_RENDERED = TypeAdapter(Rendered)
# What a variant's file may be called: its width and a known extension, nothing with a path in it.
_VARIANT_FILE = re.compile(r"^[1-9][0-9]{0,4}\.(" + "|".join(ext for ext, _ in ENCODINGS.values()) + r")$")


@dataclass(frozen=True)
class ChildReport:
    rendered: Rendered
    peak_rss_kib: int  # the child's high-water mark, as it reported it


def sandbox_limits(settings: PosterSettings) -> Limits:
    return Limits(
        wall_seconds=settings.wall_seconds, cpu_seconds=settings.cpu_seconds, memory_bytes=settings.memory_mb * 2**20
    )


def render_isolated(source: Path, content_type: str, out_dir: Path, settings: PosterSettings) -> ChildReport:
    """Variants of the image at `source` written to `out_dir` (which must exist, empty) by a sandboxed
    child, or InvalidMedia. Blocking."""
    limits = json.dumps({"max_pixels": settings.max_pixels, "widths": settings.widths})
    argv = [sys.executable, "-m", "media.poster_cli", os.fspath(source), content_type, os.fspath(out_dir)]
    pythonpath = os.pathsep.join(p for p in (CODE_ROOT, os.environ.get("PYTHONPATH")) if p)
    # As for the probe (media.probe_sandbox): glibc's per-thread arenas would eat RLIMIT_AS unused.
    env = {"PYTHONPATH": pythonpath, "MALLOC_ARENA_MAX": "2"}
    outcome, out, err = run([*argv, "--limits", limits], sandbox_limits(settings), env=env, max_output=MAX_ANSWER)
    stderr = err.decode(errors="replace").splitlines()
    if outcome.ok:
        try:
            payload = json.loads(out)
            peak = int(payload.get("peak_rss_kib", 0))
            if "invalid" in payload:
                invalid = payload["invalid"]
                raise InvalidMedia(str(invalid["message"])[:MAX_MESSAGE], reason=str(invalid["reason"])[:40])
            rendered = _RENDERED.validate_python(payload["rendered"])
        except (ValueError, TypeError, KeyError, ValidationError):
            pass  # not an answer: handled as a failed child below
        else:
            _check_files(rendered, out_dir)
            return ChildReport(rendered, peak)
    log.warning("poster render failed: %s (%.1f s); stderr: %s", failure(outcome, stderr), outcome.seconds, stderr[-5:])
    raise _failed(outcome, stderr)


def _check_files(rendered: Rendered, out_dir: Path) -> None:
    for variant in rendered.variants:
        path = out_dir / variant.file
        if not _VARIANT_FILE.match(variant.file) or not path.is_file() or path.stat().st_size != variant.size:
            raise InvalidMedia(
                "the image could not be converted: the converter gave no usable answer", reason="poster_failed"
            )
    if not rendered.variants:
        raise InvalidMedia("the image could not be converted: no variant was made", reason="poster_failed")


def _failed(outcome: Outcome, stderr: list[str]) -> InvalidMedia:
    limits = outcome.limits
    why = failure(outcome, stderr)
    if outcome.timed_out:
        return InvalidMedia(f"the image could not be converted within {limits.wall_seconds:g} s", reason="timeout")
    if why is not None and why.startswith("used more than"):
        return InvalidMedia(f"converting the image took more than {limits.cpu_seconds:g} s of CPU", reason="cpu")
    if why is not None and why.startswith("needed more than"):
        return InvalidMedia(f"converting the image {why}", reason="memory")
    return InvalidMedia(
        f"the image could not be converted: the converter {why or 'gave no answer'}", reason="poster_failed"
    )
