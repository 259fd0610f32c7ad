from __future__ import annotations

from pathlib import Path

import pytest

from tests.media import ffmpeg_exe, make_clip
from transcoder.encode import commands
from transcoder.encode.ladder import plan_ladder
from transcoder.encode.previews import STORYBOARD_IMAGE, THUMBNAIL_DIR, plan_previews
from transcoder.encode.progress import Progress, ProgressParser
from transcoder.encode.runner import run_ffmpeg

BLOCK = """frame=62
fps=0.00
out_time_us=2000000
out_time_ms=2000000
speed= 4.0x
progress=continue
"""


def test_block_gives_fraction_speed_and_eta() -> None:
    parser = ProgressParser(duration=10.0)
    results = [p for p in (parser.feed(line) for line in BLOCK.splitlines()) if p]
    assert len(results) == 1
    p = results[0]
    assert p.media_seconds == 2.0
    assert abs(p.fraction - 0.2) < 1e-9
    assert p.speed == 4.0
    assert p.eta_seconds == 2.0
    assert not p.done


def test_end_block_is_complete() -> None:
    parser = ProgressParser(duration=3.0)
    progress = None
    for line in ["out_time_us=3000000", "speed=N/A", "progress=end"]:
        progress = parser.feed(line) or progress
    assert progress is not None and progress.done and progress.fraction == 1.0 and progress.speed is None


def test_garbage_is_ignored() -> None:
    parser = ProgressParser(duration=3.0)
    assert parser.feed("not a key value line") is None
    progress = None
    for line in ["out_time_us=N/A", "speed=abc", "progress=continue"]:
        progress = parser.feed(line) or progress
    assert progress is not None and progress.media_seconds == 0.0 and progress.eta_seconds is None


@pytest.mark.ffmpeg
def test_the_ladder_encode_reports_progress_from_the_start(tmp_path: Path) -> None:
    """ffmpeg reports progress only once every output has written a frame: no output of the ladder
    run (previews included) may hold its first frame back until late in the encode."""
    source = make_clip(tmp_path / "source.mp4", seconds=8.0, size="1280x720")
    out = tmp_path / "out"
    ladder = plan_ladder(1280, 720, 30, has_audio=True)
    previews = plan_previews(8.0, 1280, 720)
    plan = commands.EncodePlan(str(source), out, ladder, 4.0, interlaced=False, previews=previews)
    for directory in commands.output_dirs(plan):
        directory.mkdir(parents=True)
    argv = commands.encode_ladder(plan, ffmpeg_exe())
    argv[1:1] = ["-stats_period", "0.05"]  # many reports even on a fast machine
    reports: list[Progress] = []
    run_ffmpeg(argv, duration=8.0, on_progress=reports.append)
    early = [p for p in reports if not p.done and 0 < p.media_seconds < 4.0]
    assert early, [p.media_seconds for p in reports]
    run_ffmpeg(commands.finish_previews(previews, str(source), out, False, ffmpeg_exe()))
    assert sorted(p.name for p in (out / THUMBNAIL_DIR).iterdir()) == ["01.jpg", "02.jpg", "03.jpg", "04.jpg", "05.jpg"]
    assert (out / STORYBOARD_IMAGE).is_file()
