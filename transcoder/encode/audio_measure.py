"""Loudness measurements run with ffmpeg: of the source's audio streams before the encode (the first
pass of the normalisation) and of written audio renditions after it (what is recorded on the asset
where loudnorm's dynamic mode ran).

The pure parts (argv, parsing, normalisation options) are transcoder.encode.loudness; this module only
runs them (through transcoder.encode.runner, sandboxed like every ffmpeg run).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from transcoder.encode import loudness
from transcoder.encode.commands import INIT_NAME, REMOTE_INPUT_OPTIONS
from transcoder.encode.runner import run_ffmpeg
from transcoder.errors import EncodeFailed

# The measuring pass decodes audio only (every video packet is demuxed and dropped): far quicker than
# real time, but a long source over a slow link still takes a while.
MIN_TIMEOUT_SECONDS = 120.0


def _timeout(duration: float) -> float:
    return max(MIN_TIMEOUT_SECONDS, duration)


def measure_source(
    source: str,
    streams: Sequence[tuple[int, int]],
    ffmpeg_exe: str,
    *,
    duration: float,
) -> list[loudness.Loudness | None]:
    """Integrated loudness, true peak and range of each (audio stream 0:a:N, channels) of the source as
    a rendition will carry it, in one read of the source; None for a stream that does not decode (ffmpeg
    then fails the run, which says which streams did: the others' measurements are still good)."""
    if not streams:
        return []
    inputs = [(source, f"a:{n}", loudness.channel_layout(channels)) for n, channels in streams]
    argv = loudness.measure_argv(inputs, ffmpeg_exe)
    if source.startswith(("http://", "https://")):
        # The same resilient HTTP reading as the encode's (a presigned URL of the original).
        options = [item for key, value in REMOTE_INPUT_OPTIONS.items() for item in (f"-{key}", str(value))]
        at = argv.index("-i")
        argv[at:at] = options
    lines: list[str] = []
    try:
        run_ffmpeg(argv, timeout=_timeout(duration), stderr_lines=lines)
    except EncodeFailed as exc:
        measured = loudness.parse_measurements("".join(lines), len(streams))
        if exc.reason != EncodeFailed.reason:
            raise  # stopped, timed out: not the audio's fault
        if not any(measured):
            raise EncodeFailed(f"none of the source's audio tracks could be decoded ({exc.message})") from exc
        return measured
    return loudness.parse_measurements("".join(lines), len(streams))


def measure_renditions(
    directories: Sequence[Path], segments: Sequence[Sequence[str]], scratch: Path, ffmpeg_exe: str, *, duration: float
) -> list[loudness.Loudness | None]:
    """The loudness of written renditions (each directory's init segment and media segments, joined
    into one fragmented MP4 as a player reads them), in one ffmpeg run."""
    if not directories:
        return []
    scratch.mkdir(parents=True, exist_ok=True)
    joined = []
    for n, (directory, names) in enumerate(zip(directories, segments, strict=True)):
        path = scratch / f"track-{n}.mp4"
        with path.open("wb") as out:
            for name in [INIT_NAME, *names]:
                with (directory / name).open("rb") as part:
                    shutil.copyfileobj(part, out)
        joined.append(str(path))
    argv = loudness.measure_argv([(path, "a:0", None) for path in joined], ffmpeg_exe)
    lines: list[str] = []
    try:
        run_ffmpeg(argv, timeout=_timeout(duration), stderr_lines=lines)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    measured = loudness.parse_measurements("".join(lines), len(joined))
    if None in measured:
        # Our own output, verified as fMP4 already: a rendition that does not decode is not published.
        raise EncodeFailed(f"audio rendition {directories[measured.index(None)].name} does not decode")
    return measured
