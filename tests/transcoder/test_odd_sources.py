"""Valid but odd originals: many audio tracks, tiny or odd-sized frames, a clip shorter than a storyboard
interval, a container that declares another size than its stream. Each becomes a playable ladder.

(Originals that must be refused are in test_bad_sources.py.)
"""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.media import assert_plays_whole, ffmpeg_exe, integrated_loudness, make_clip, pitch
from tests.transcoder.harness import assert_succeeded, pipeline_context, published_prefix, published_tracks, submit
from transcoder.package.fmp4 import parse_init
from transcoder.pipeline import run_job

pytestmark = pytest.mark.ffmpeg

SEGMENT = 2.0
TONE_STEP = 220  # audio track i of a multi-track source is a sine of (i + 1) * TONE_STEP Hz


def _tracks(path: Path, count: int, default: int | None = None) -> Path:
    """2 s of video with `count` mono audio tracks of distinct pitch; `default` flags one as the default."""
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    argv += ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=2"]
    for i in range(count):
        argv += ["-f", "lavfi", "-i", f"sine=frequency={(i + 1) * TONE_STEP}:sample_rate=48000:duration=2"]
    argv += ["-map", "0:v", *(arg for i in range(count) for arg in ("-map", f"{i + 1}:a"))]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]
    if default is not None:
        argv += ["-disposition:a", "0", f"-disposition:a:{default}", "default"]
    subprocess.run([*argv, str(path)], check=True)
    return path


def _tiny(size: str) -> Callable[[Path], Path]:
    # testsrc2 cannot draw below 16x16 (nor can 4:2:0 store odd sizes): scaled down and stored 4:4:4.
    w, h = size.split("x")
    extra = ["-vf", f"scale={w}:{h},setsar=1", "-pix_fmt", "yuv444p"]
    return lambda p: make_clip(p, seconds=2, size="64x64", extra_video_args=extra)


def _cover_image(path: Path) -> Path:
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    argv += ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=1:duration=1"]
    argv += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3"]
    argv += ["-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(path)]
    subprocess.run(argv, check=True)
    return path


def _declared_20000(path: Path) -> Path:
    """A 16x16 H.264 stream (no audio) whose MP4 sample entry and track header declare 20000x20000."""
    data = bytearray(make_clip(path.with_name("16x16.mp4"), seconds=2, size="16x16", audio=False).read_bytes())
    entry = data.index(b"avc1", data.index(b"stsd")) + 4  # VisualSampleEntry payload: width, height at +24
    data[entry + 24 : entry + 28] = struct.pack(">HH", 20000, 20000)
    tkhd = data.index(b"tkhd") + 4  # version 0: width, height (16.16 fixed point) at +76
    data[tkhd + 76 : tkhd + 84] = struct.pack(">II", 20000 << 16, 20000 << 16)
    path.write_bytes(bytes(data))
    declared = parse_init(bytes(data[data.index(b"moov") - 4 :]))  # one track: our reader takes it
    assert (declared.width, declared.height) == (20000, 20000)
    return path


@dataclass(frozen=True)
class Odd:
    make: Callable[[Path], Path]
    seconds: float
    display: tuple[int, int]  # the asset's display size (the source's)
    rungs: list[tuple[int, int]]  # every rung's size
    tones: tuple[int, ...] = (440,)  # pitch of each published audio track, in playlist order (make_clip's sine)


ODD: dict[str, Odd] = {
    # Every track becomes its own audio rendition, in the source's order, none swapped.
    "8-audio-tracks": Odd(
        lambda p: _tracks(p, 8), 2, (320, 180), [(320, 180)], tuple((i + 1) * TONE_STEP for i in range(8))
    ),
    "2-audio-tracks-second-default": Odd(
        lambda p: _tracks(p, 2, default=1), 2, (320, 180), [(320, 180)], (TONE_STEP, 2 * TONE_STEP)
    ),
    # Tiny pictures are scaled up to one macroblock on the short side, display aspect kept.
    "16x16": Odd(lambda p: make_clip(p, seconds=2, size="16x16"), 2, (16, 16), [(16, 16)]),
    "1x1-yuv444": Odd(_tiny("1x1"), 2, (1, 1), [(16, 16)]),
    "3x5-yuv444": Odd(_tiny("3x5"), 2, (3, 5), [(16, 26)]),
    # A strip is fine as long as it fits the limits.
    "640x16": Odd(lambda p: make_clip(p, seconds=2, size="640x16"), 2, (640, 16), [(640, 16)]),
    # Three frames: shorter than a storyboard interval and than the thumbnails' spacing.
    "0.1s": Odd(lambda p: make_clip(p, seconds=0.1), 0.1, (640, 360), [(416, 234), (640, 360)]),
    # One frame at 2 fps: the poster's usual time (the middle) falls after the only frame's start.
    "one-frame-0.5s": Odd(lambda p: make_clip(p, seconds=0.5, rate="2"), 0.5, (640, 360), [(416, 234), (640, 360)]),
    # A cover image over a song: one frame, then 3 s of audio. The picture is held to the end.
    "cover-image-over-audio": Odd(_cover_image, 3, (320, 180), [(320, 180)]),
    # The decoder's size counts, not what the container claims.
    "declared-20000x20000-over-16x16": Odd(_declared_20000, 2, (16, 16), [(16, 16)], ()),
}


@pytest.mark.parametrize("name", list(ODD))
def test_odd_source_becomes_a_playable_ladder(name: str, tmp_path: Path) -> None:
    odd = ODD[name]
    ctx = pipeline_context(tmp_path, segment_seconds=SEGMENT)
    asset_id, job_id = submit(ctx, odd.make(tmp_path / f"{name}.mp4"))
    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)

    assert (asset.width, asset.height) == odd.display
    videos, audios = published_tracks(ctx, asset_id)
    assert [(v.init.width, v.init.height) for v in videos] == odd.rungs
    for video in videos:
        assert all(s.starts_with_idr for s in video.segments), video.name
        assert video.end == pytest.approx(odd.seconds, abs=1 / 30 + 0.001), video.name
    assert len(audios) == len(odd.tones)
    media = ctx.settings.storage.root / "media" / published_prefix(ctx, asset_id)
    assert_plays_whole(str(media / "master.m3u8"), odd.seconds, audio=bool(odd.tones), tolerance=0.05)
    for audio, tone in zip(audios, odd.tones, strict=True):
        assert audio.init.channels == 2
        assert pitch(media / audio.name / "index.m3u8") == pytest.approx(tone, rel=0.05), audio.name
        # Normalised (EBU R128, the default -16 LUFS), each track on its own; a clip under one 400 ms
        # gating block has no integrated loudness to measure or normalise.
        if odd.seconds >= 0.4:
            loudness = integrated_loudness(media / audio.name / "index.m3u8")
            assert loudness == pytest.approx(-16, abs=1.0), audio.name
    # The stills are there too: poster, thumbnails (fewer when the clip has fewer frames), storyboard.
    assert (media / "poster.jpg").stat().st_size > 0 and (media / "storyboard.jpg").stat().st_size > 0
    thumbnails = sorted((media / "thumbnails").glob("*.jpg"))
    assert 1 <= len(thumbnails) <= 5 and all(t.stat().st_size > 0 for t in thumbnails)
    assert "storyboard.jpg#xywh=" in (media / "storyboard.vtt").read_text()
