"""Check every output of an encode against its plan before anything of it is published.

`outputs.read_track` has already parsed each init segment and every media segment as fMP4
(transcoder.package.fmp4): a file that does not parse never gets here. This adds what parsing alone cannot
tell: that every rendition the ladder planned is there, that no file is empty, that each carries the
codec and size it was encoded for, and that the segments cover the source on the planned grid (an
encode cut short has too few). Pure over the read-back model, plus the sizes of the files named.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from manifests.model import Track
from transcoder.encode.ladder import CODEC_AV1, Ladder, Rung
from transcoder.errors import EncodeFailed

# H.264 profile_idc by the profile names the ladder asks x264 for, in the order each contains the
# previous one: x264 takes the profile as a ceiling (fast presets without CABAC make baseline).
_PROFILE_IDC = {"baseline": 0x42, "main": 0x4D, "high": 0x64}
_PROFILE_RANK = {idc: rank for rank, idc in enumerate(_PROFILE_IDC.values())}
AUDIO_CODECS = "mp4a.40.2"  # AAC-LC, what commands.encode_ladder asks for
# Audio segments end on AAC frame boundaries (1024 samples, 21-23 ms): a little slack around the grid.
AUDIO_SLACK_SECONDS = 0.1


def verify_outputs(
    out: Path,
    videos: Sequence[Track],
    audios: Sequence[Track],
    ladder: Ladder,
    *,
    duration: float,
    segment_seconds: float,
    extra_files: Iterable[str] = (),
) -> None:
    """Raise EncodeFailed (reason "invalid_output") naming every problem found, else return."""
    problems = check_outputs(videos, audios, ladder, duration=duration, segment_seconds=segment_seconds) + _empty_files(
        out, videos, audios, extra_files
    )
    if problems:
        raise EncodeFailed(
            "the encode's output failed verification: " + "; ".join(problems[:5]), reason="invalid_output"
        )


def check_outputs(
    videos: Sequence[Track], audios: Sequence[Track], ladder: Ladder, *, duration: float, segment_seconds: float
) -> list[str]:
    """Problems of the read-back tracks against the ladder; empty when they match it."""
    problems: list[str] = []
    rungs = {rung.name: rung for rung in ladder.rungs}
    found = {t.name for t in videos}
    if found != set(rungs):
        problems.append(f"renditions {sorted(found)} where the ladder planned {sorted(rungs)}")
    planned_audio = {audio.name: audio for audio in ladder.audio_renditions()}
    found_audio = sorted(t.name for t in audios)
    if found_audio != sorted(planned_audio):
        problems.append(f"audio renditions {found_audio} where the plan made {sorted(planned_audio)}")
    expected = expected_segments(duration, segment_seconds)
    for track in videos:
        rung = rungs.get(track.name)
        if rung is not None:
            problems += _video_problems(track, rung)
        slack = 1.5 / (rung.frame_rate if rung is not None and rung.frame_rate > 0 else 24.0)
        problems += _timing_problems(track, expected, segment_seconds, max(slack, 0.01))
    for track in audios:
        if track.codecs != AUDIO_CODECS:
            problems.append(f"{track.name}: codecs {track.codecs!r}, expected {AUDIO_CODECS!r}")
        planned = planned_audio.get(track.name)
        if planned is not None and track.channels != planned.channels:
            problems.append(f"{track.name}: {track.channels} channels, expected {planned.channels}")
        problems += _timing_problems(track, expected, segment_seconds, AUDIO_SLACK_SECONDS)
    counts = {len(t.segments) for t in videos}
    if len(counts) > 1:
        problems.append(f"video renditions differ in segment count: {sorted(counts)}")
    audio_counts = {len(t.segments) for t in audios}
    if len(audio_counts) > 1:
        # Players switch audio tracks at segment boundaries: every track is cut on the same grid.
        problems.append(f"audio renditions differ in segment count: {sorted(audio_counts)}")
    return problems


def expected_segments(duration: float, segment_seconds: float) -> int:
    """How many segments the grid cuts `duration` seconds into (the last one may be short)."""
    return max(1, math.ceil(duration / segment_seconds - 1e-3))


def _video_problems(track: Track, rung: Rung) -> list[str]:
    problems = []
    if rung.codec == CODEC_AV1:
        # av01.<profile>.<level><tier>.<depth> (fmp4.av1_codecs): main profile (0), 8-bit, main tier.
        fourcc, profile, level_tier, depth = ([*track.codecs.split("."), "", "", ""])[:4]
        if (fourcc, profile, level_tier[-1:], depth) != ("av01", "0", "M", "08"):
            problems.append(f"{track.name}: codecs {track.codecs!r}, expected AV1 main profile, 8-bit, main tier")
        return problems + _size_problems(track, rung)
    ceiling = _PROFILE_RANK.get(_PROFILE_IDC.get(rung.profile.lower(), 0x64), len(_PROFILE_RANK))
    fourcc, _, config = track.codecs.partition(".")
    idc, level = (int(config[:2], 16), int(config[4:], 16)) if len(config) == 6 else (None, None)
    if (
        fourcc != "avc1"
        or idc not in _PROFILE_RANK
        or _PROFILE_RANK[idc] > ceiling
        or level != round(float(rung.level) * 10)
    ):
        problems.append(f"{track.name}: codecs {track.codecs!r}, expected H.264 {rung.profile} level {rung.level}")
    return problems + _size_problems(track, rung)


def _size_problems(track: Track, rung: Rung) -> list[str]:
    if (track.width, track.height) != (rung.width, rung.height):
        return [f"{track.name}: {track.width}x{track.height}, expected {rung.width}x{rung.height}"]
    return []


def _timing_problems(track: Track, expected: int, segment_seconds: float, slack: float) -> list[str]:
    count = len(track.segments)
    # One either way: where the grid falls against the last frame, or a source whose container
    # outlasts a stream by a little.
    if abs(count - expected) > 1:
        return [f"{track.name}: {count} segments where the plan makes {expected}"]
    problems = []
    for index, segment in enumerate(track.segments):
        last = index == count - 1
        if segment.size <= 0 or segment.duration <= 0:
            problems.append(f"{track.name}/{segment.uri}: empty")
        elif segment.duration > segment_seconds + slack or (not last and segment.duration < segment_seconds - slack):
            problems.append(
                f"{track.name}/{segment.uri}: lasts {segment.duration:.3f} s on a {segment_seconds:g} s grid"
            )
    return problems


def _empty_files(out: Path, videos: Sequence[Track], audios: Sequence[Track], extra: Iterable[str]) -> list[str]:
    names = [f"{t.name}/{t.init_uri}" for t in [*videos, *audios]]
    names += [f"{t.name}/{s.uri}" for t in [*videos, *audios] for s in t.segments]
    problems = []
    for name in [*names, *extra]:
        path = out / name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            problems.append(f"{name}: missing")
            continue
        if size == 0:
            problems.append(f"{name}: empty file")
    return problems
