"""Output verification before publishing: pure checks of the read-back tracks against the ladder
(table), and a real encode whose ffmpeg leaves a 0-byte init segment, which must fail the job with
nothing published."""

from __future__ import annotations

import stat
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from manifests.model import Segment, Track
from tests.media import ffmpeg_exe, make_clip
from tests.transcoder.harness import job_outcome, pipeline_context, submit
from transcoder.encode.ladder import plan_ladder
from transcoder.errors import EncodeFailed
from transcoder.package.verify import check_outputs, verify_outputs
from transcoder.pipeline import run_job

LADDER = plan_ladder(640, 360, 30.0, has_audio=True)
DURATION = 10.0  # five 2 s segments
SEGMENT = 2.0


def _segments(durations: list[float], size: int = 1000) -> tuple[Segment, ...]:
    starts = [sum(durations[:i]) for i in range(len(durations))]
    return tuple(
        Segment(f"seg_{i + 1:05d}.m4s", d, size, s) for i, (d, s) in enumerate(zip(durations, starts, strict=True))
    )


def _good() -> tuple[list[Track], list[Track]]:
    videos = [
        Track(
            rung.name,
            "video",
            f"avc1.6400{round(float(rung.level) * 10):02x}",
            "init.mp4",
            _segments([2.0] * 5),
            15360,
            width=rung.width,
            height=rung.height,
        )
        for rung in LADDER.rungs
    ]
    audio = Track(
        "audio", "audio", "mp4a.40.2", "init.mp4", _segments([2.005, 1.995, 2.0, 2.0, 2.0]), 48000, channels=2
    )
    return videos, [audio]


Change = Callable[[list[Track], list[Track]], tuple[list[Track], list[Track]]]


def _first_video(change: Callable[[Track], Track]) -> Change:
    return lambda videos, audios: ([change(videos[0]), *videos[1:]], audios)


CASES: dict[str, tuple[Change, str]] = {
    "a rung missing": (lambda v, a: (v[1:], a), "renditions"),
    "no audio": (lambda v, a: (v, []), "audio renditions"),
    "not H.264": (_first_video(lambda t: replace(t, codecs="hvc1.1.6.L93.90")), "codecs"),
    "another level": (_first_video(lambda t: replace(t, codecs="avc1.640033")), "codecs"),
    "another size": (_first_video(lambda t: replace(t, width=320)), "expected"),
    "cut short": (_first_video(lambda t: replace(t, segments=t.segments[:2])), "segments where the plan makes 5"),
    "a short segment mid-way": (
        _first_video(lambda t: replace(t, segments=_segments([2.0, 1.2, 2.0, 2.0, 2.0]))),
        "lasts 1.200 s",
    ),
    "an empty segment": (_first_video(lambda t: replace(t, segments=_segments([2.0] * 5, size=0))), "empty"),
    "rungs out of step": (
        _first_video(lambda t: replace(t, segments=_segments([2.0] * 4 + [1.0, 1.0]))),
        "differ in segment count",
    ),
    "audio not AAC-LC": (lambda v, a: (v, [replace(a[0], codecs="mp4a.40.5")]), "codecs"),
    "audio in mono": (lambda v, a: (v, [replace(a[0], channels=1)]), "1 channels, expected 2"),
    "audio under another name": (lambda v, a: (v, [replace(a[0], name="audio-1")]), "audio renditions"),
}


def test_outputs_as_planned_pass() -> None:
    videos, audios = _good()
    assert check_outputs(videos, audios, LADDER, duration=DURATION, segment_seconds=SEGMENT) == []
    # Baseline or main under a "high" ceiling is what x264's fast presets make: fine.
    baseline = [replace(v, codecs="avc1.42c0" + v.codecs[-2:]) for v in videos]
    assert check_outputs(baseline, audios, LADDER, duration=DURATION, segment_seconds=SEGMENT) == []
    # The last segment may be short; the count may differ by one (where the grid meets the end).
    short_end = [replace(v, segments=_segments([2.0] * 5 + [0.4])) for v in videos]
    assert check_outputs(short_end, audios, LADDER, duration=DURATION + 0.4, segment_seconds=SEGMENT) == []


@pytest.mark.parametrize("case", CASES)
def test_outputs_unlike_the_plan_are_refused(case: str) -> None:
    change, expected = CASES[case]
    videos, audios = change(*_good())
    problems = check_outputs(videos, audios, LADDER, duration=DURATION, segment_seconds=SEGMENT)
    assert any(expected in p for p in problems), problems


def test_an_empty_file_fails_verification(tmp_path: Path) -> None:
    videos, audios = _good()
    for track in [*videos, *audios]:
        (tmp_path / track.name).mkdir()
        for name in [track.init_uri, *(s.uri for s in track.segments)]:
            (tmp_path / track.name / name).write_bytes(b"x")
    (tmp_path / "poster.jpg").write_bytes(b"")
    with pytest.raises(EncodeFailed) as raised:
        verify_outputs(
            tmp_path, videos, audios, LADDER, duration=DURATION, segment_seconds=SEGMENT, extra_files=["poster.jpg"]
        )
    assert raised.value.reason == "invalid_output" and "poster.jpg: empty file" in raised.value.message


# ffmpeg as the encode runs it, except that every rendition comes out cut short alike (as when
# ffmpeg stops early): the last two segments gone from each playlist and directory. Everything left
# parses as fMP4 and the renditions stay aligned: only the plan tells that 2 s are missing.
TRUNCATING_FFMPEG = """#!{python}
import subprocess, sys
from pathlib import Path
code = subprocess.call(["{ffmpeg}", *sys.argv[1:]])
for arg in sys.argv[1:]:
    if arg.endswith("/index.m3u8"):
        playlist = Path(arg)
        lines = playlist.read_text().splitlines()
        segments = [i for i, line in enumerate(lines) if line.endswith(".m4s")]
        for i in segments[-2:]:
            (playlist.parent / lines[i]).unlink()
        drop = {{j for i in segments[-2:] for j in (i - 1, i)}}
        playlist.write_text("\\n".join(line for j, line in enumerate(lines) if j not in drop) + "\\n")
sys.exit(code)
"""


@pytest.mark.ffmpeg
def test_an_encode_cut_short_fails_verification_and_publishes_nothing(tmp_path: Path) -> None:
    wrapper = tmp_path / "ffmpeg"
    wrapper.write_text(TRUNCATING_FFMPEG.format(python=sys.executable, ffmpeg=ffmpeg_exe()))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    ctx = pipeline_context(tmp_path, ffmpeg=str(wrapper), segment_seconds=1.0)
    asset_id, job_id = submit(ctx, make_clip(tmp_path / "clip.mp4", seconds=6, size="640x360"))
    run_job(ctx, job_id)
    asset, job = job_outcome(ctx, asset_id, job_id)
    assert job.state == "failed" and asset.state == "failed", (job.state, job.error)
    assert job.error_reason == "invalid_output" and "4 segments where the plan makes 6" in (job.error or "")
    assert asset.master_key is None
    assert list(ctx.store.list("media", f"{asset_id}/")) == []
