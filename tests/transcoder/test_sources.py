"""What creators really upload, through the whole pipeline with real ffmpeg.

Each source is generated with ffmpeg, transcoded by `run_job`, and the published package is read
back as a player would find it: every rung starts each segment with an IDR on one shared grid,
shows the source's display aspect with square pixels, is never larger than the source, keeps
audio in step with video, and decodes end to end with ffmpeg as the player.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import pytest

from tests.media import assert_plays_whole, ffmpeg_exe, make_clip
from tests.transcoder.harness import assert_succeeded, pipeline_context, published_prefix, published_tracks, submit
from transcoder.pipeline import PipelineContext, run_job

pytestmark = pytest.mark.ffmpeg

SEGMENT = 2.0


@dataclass(frozen=True)
class Source:
    make: Callable[[Path], Path]
    seconds: float
    display: tuple[int, int]  # expected display size: SAR and rotation applied
    audio: bool = True
    rate: float = 30.0  # expected output frame rate
    interlaced: bool = False
    vfr: bool = False


def _remux(src: Path, dest: Path, *before_input: str) -> Path:
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *before_input, "-i", str(src)]
    subprocess.run([*argv, "-c", "copy", str(dest)], check=True)
    return dest


def _rotated(path: Path) -> Path:
    landscape = make_clip(path.with_name("landscape.mp4"), seconds=3, size="1280x720")
    # A phone held upright: landscape storage with a 90-degree display matrix.
    return _remux(landscape, path, "-display_rotation", "90")


SOURCES: dict[str, Source] = {
    "1080p30": Source(lambda p: make_clip(p, seconds=3, size="1920x1080"), 3, (1920, 1080)),
    "portrait-1080x1920": Source(lambda p: make_clip(p, seconds=3, size="1080x1920"), 3, (1080, 1920)),
    "rotated-90": Source(_rotated, 3, (720, 1280)),
    "anamorphic-64:45": Source(
        lambda p: make_clip(p, seconds=3, size="720x576", rate="25", extra_video_args=["-vf", "setsar=64/45"]),
        3,
        (1024, 576),
        rate=25,
    ),
    "anamorphic-16:15": Source(
        lambda p: make_clip(p, seconds=3, size="720x576", rate="25", extra_video_args=["-vf", "setsar=16/15"]),
        3,
        (768, 576),
        rate=25,
    ),
    "audio-5.1": Source(lambda p: make_clip(p, seconds=3, channels=6), 3, (640, 360)),
    "no-audio": Source(lambda p: make_clip(p, seconds=3, audio=False), 3, (640, 360), audio=False),
    # Every third frame dropped, timestamps kept: frame durations alternate 1/30 and 2/30 s.
    "vfr": Source(
        lambda p: make_clip(p, seconds=3, extra_video_args=["-vf", "select='not(eq(mod(n,3),1))'", "-fps_mode", "vfr"]),
        3,
        (640, 360),
        rate=20,
        vfr=True,
    ),
    "50fps": Source(lambda p: make_clip(p, seconds=3, rate="50"), 3, (640, 360), rate=50),
    "60fps": Source(lambda p: make_clip(p, seconds=3, rate="60"), 3, (640, 360), rate=60),
    # 4:2:0 cannot store odd sizes (nor can testsrc2 draw them): scaled to 853x481 and stored 4:4:4.
    "odd-853x481": Source(
        lambda p: make_clip(
            p, seconds=3, size="854x482", extra_video_args=["-vf", "scale=853:481,setsar=1", "-pix_fmt", "yuv444p"]
        ),
        3,
        (853, 481),
    ),
    # 50 fields/s woven into 25 interlaced frames, top field first, coded as interlaced H.264.
    "interlaced-tff": Source(
        lambda p: make_clip(
            p,
            seconds=3,
            size="720x576",
            rate="50",
            extra_video_args=["-vf", "interlace=scan=tff", "-flags", "+ildct+ilme", "-x264-params", "tff=1"],
        ),
        3,
        (720, 576),
        rate=25,
        interlaced=True,
    ),
    "4s": Source(lambda p: make_clip(p, seconds=4), 4, (640, 360)),
    # The 2-minute clip, at a low resolution so that it stays quick on CI.
    "2min": Source(lambda p: make_clip(p, seconds=120, size="320x180", rate="15"), 120, (320, 180), rate=15),
}


@pytest.fixture
def ctx(tmp_path: Path) -> PipelineContext:
    return pipeline_context(tmp_path, segment_seconds=SEGMENT)


@pytest.mark.parametrize("name", list(SOURCES))
def test_source_becomes_an_aligned_playable_ladder(name: str, ctx: PipelineContext, tmp_path: Path) -> None:
    source = SOURCES[name]
    original = source.make(tmp_path / f"{name}.mp4")
    asset_id, job_id = submit(ctx, original)
    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)

    assert (asset.width, asset.height) == source.display
    assert asset.probe is not None
    assert asset.probe["video"]["interlaced"] is source.interlaced
    assert asset.probe["video"]["variable_frame_rate"] is source.vfr

    videos, audios = published_tracks(ctx, asset_id)
    # A stereo rendition per track; a 5.1 source also keeps a 5.1 one (its own HLS group).
    channels = ([2, 6] if name == "audio-5.1" else [2]) if source.audio else []
    assert videos and sorted(a.init.channels or 0 for a in audios) == channels
    display_w, display_h = source.display
    for video in videos:
        init = video.init
        assert init.width and init.height and init.sar == (1, 1), video.name
        assert init.width % 2 == 0 and init.height % 2 == 0
        # No upscaling, and the display aspect within the error of rounding to even sizes.
        assert init.width <= display_w and init.height <= display_h, video.name
        aspect_error = abs(init.width / init.height - display_w / display_h) / (display_w / display_h)
        assert aspect_error < 0.01 + 2 / min(init.width, init.height), (video.name, init.width, init.height)
        # Every segment opens with an IDR, on the fixed grid.
        assert all(s.starts_with_idr for s in video.segments), video.name
        for start in video.starts:
            assert abs(start / SEGMENT - round(start / SEGMENT)) < 0.01, (video.name, video.starts)
        frame = 1 / source.rate
        sample_durations = {d for s in video.segments for d in s.sample_durations}
        assert all(abs(d / init.timescale - frame) < 0.002 for d in sample_durations), (video.name, frame)
    # One grid shared by every rung: segment boundaries line up across the ladder.
    assert all(v.starts == videos[0].starts for v in videos)
    top = max(videos, key=lambda v: v.init.width or 0)
    assert top.init.height == max(v.init.height or 0 for v in videos)
    assert abs(videos[0].end - source.seconds) <= SEGMENT / 2

    for audio in audios:
        assert audio.init.sample_rate == 48000
        # In sync: audio starts with the video and lasts as long, within a frame plus an AAC frame.
        tolerance = 1 / source.rate + 1024 / 48000
        assert abs(audio.start - videos[0].start) <= tolerance
        assert abs(audio.end - videos[0].end) <= tolerance + 0.05, (audio.end, videos[0].end)

    # Rotation is applied in the pixels; no display matrix may remain to turn them again.
    package = ctx.settings.storage.root / "media" / published_prefix(ctx, asset_id)
    top_dir = package / top.name
    with av.open(str(top_dir / "index.m3u8")) as played:
        first = next(played.decode(video=0))
        assert (first.width, first.height) == (top.init.width, top.init.height)
        assert not getattr(first, "rotation", 0)

    assert_plays_whole(str(package / "master.m3u8"), source.seconds, audio=source.audio)
