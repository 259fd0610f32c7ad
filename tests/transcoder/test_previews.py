"""Thumbnails and the storyboard: the pure plan and WebVTT map, then the published files of a real run."""

from __future__ import annotations

import re
from pathlib import Path

import av
import pytest

from tests.media import make_clip
from tests.transcoder.harness import assert_succeeded, pipeline_context, published_prefix, submit
from transcoder.encode.previews import Storyboard, fit, plan_previews, plan_storyboard, poster_time, render_vtt
from transcoder.pipeline import run_job


@pytest.mark.parametrize(
    ("display", "box", "expected"),
    [
        ((1920, 1080), 160, (160, 90)),
        ((1080, 1920), 160, (90, 160)),
        ((1024, 576), 160, (160, 90)),
        ((853, 481), 160, (160, 90)),
        ((120, 68), 160, (120, 68)),  # never above the source
    ],
)
def test_fit_keeps_display_aspect_in_even_sizes(display: tuple[int, int], box: int, expected: tuple[int, int]) -> None:
    assert fit(*display, box) == expected


@pytest.mark.parametrize(
    ("duration", "interval", "count", "columns", "rows"),
    [
        (3.0, 1.0, 3, 3, 1),
        (4.0, 1.0, 4, 4, 1),
        (99.5, 1.0, 100, 10, 10),
        (120.0, 2.0, 60, 10, 6),
        (3600.0, 36.0, 100, 10, 10),
        (0.5, 1.0, 1, 1, 1),
    ],
)
def test_storyboard_has_at_most_100_whole_second_tiles(
    duration: float, interval: float, count: int, columns: int, rows: int
) -> None:
    board = plan_storyboard(duration, 1920, 1080)
    assert (board.interval, board.count, board.columns, board.rows) == (interval, count, columns, rows)
    assert (board.width, board.height) == (columns * 160, rows * 90)


def test_vtt_maps_each_interval_to_its_tile() -> None:
    board = Storyboard(interval=2.0, count=12, columns=10, rows=2, tile_width=160, tile_height=90)
    text = render_vtt(board, 23.5)
    assert text.startswith("WEBVTT\n\n")
    cues = re.findall(r"(\S+) --> (\S+)\n(\S+)", text)
    assert len(cues) == 12
    assert cues[0] == ("00:00:00.000", "00:00:02.000", "storyboard.jpg#xywh=0,0,160,90")
    assert cues[10] == ("00:00:20.000", "00:00:22.000", "storyboard.jpg#xywh=0,90,160,90")
    assert cues[11] == ("00:00:22.000", "00:00:23.500", "storyboard.jpg#xywh=160,90,160,90")


def test_thumbnail_times_and_size() -> None:
    previews = plan_previews(10.0, 1920, 1080)
    assert previews.thumbnail_times == (1.0, 3.0, 5.0, 7.0, 9.0)
    assert (previews.thumbnail_width, previews.thumbnail_height) == (640, 360)
    assert plan_previews(10.0, 1920, 1080, last_frame=9.966).thumbnail_times == (1.0, 3.0, 5.0, 7.0, 9.0)


@pytest.mark.parametrize(
    ("duration", "last_frame", "times", "poster"),
    [
        # Three frames at 30 fps (0, 1/30, 2/30): nothing after the last one's start, each time once.
        (0.1, 2 / 30, (0.01, 0.03, 0.05, 0.066), 0.05),
        # A cover image: one frame at 0 over 3 s of audio.
        (3.0, 0.0, (0.0,), 0.0),
        # One frame a second for 2 s: frames start at 0 and 1 s.
        (2.0, 1.0, (0.2, 0.6, 1.0), 1.0),
        # Last frame unknown: the plain fractions.
        (0.1, None, (0.01, 0.03, 0.05, 0.07, 0.09), 0.05),
        (10.0, None, (1.0, 3.0, 5.0, 7.0, 9.0), 1.0),
    ],
)
def test_stills_are_never_after_the_last_frame(
    duration: float, last_frame: float | None, times: tuple[float, ...], poster: float
) -> None:
    assert plan_previews(duration, 640, 360, last_frame=last_frame).thumbnail_times == times
    assert poster_time(duration, last_frame) == poster


@pytest.mark.ffmpeg
def test_run_publishes_thumbnails_sprite_and_map(tmp_path: Path) -> None:
    ctx = pipeline_context(tmp_path)
    asset_id, job_id = submit(ctx, make_clip(tmp_path / "clip.mp4", seconds=12, size="640x360"))
    run_job(ctx, job_id)
    assert_succeeded(ctx, asset_id, job_id)
    media = ctx.settings.storage.root / "media" / published_prefix(ctx, asset_id)

    thumbs = sorted(p.name for p in (media / "thumbnails").iterdir())
    assert thumbs == ["01.jpg", "02.jpg", "03.jpg", "04.jpg", "05.jpg"]
    with av.open(str(media / "thumbnails" / "03.jpg")) as image:
        frame = next(image.decode(video=0))
        assert (frame.width, frame.height) == (640, 360)
    with av.open(str(media / "storyboard.jpg")) as image:
        frame = next(image.decode(video=0))
        assert (frame.width, frame.height) == (10 * 160, 2 * 90)  # 12 one-second tiles, 10 a row

    cues = re.findall(r"(\S+) --> (\S+)\n(\S+)", (media / "storyboard.vtt").read_text())
    assert len(cues) == 12 and cues[-1][1] == "00:00:12.000"
