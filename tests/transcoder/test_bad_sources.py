"""Originals that cannot become a stream: each job fails once with a readable reason, publishes nothing.

`run_job` returning (rather than raising TransientError) is what makes the Celery task not retry.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from catalog.models import AssetState, JobState
from tests.media import ffmpeg_exe, make_clip
from tests.transcoder.harness import job_outcome, pipeline_context, submit
from transcoder.pipeline import PipelineContext, run_job

pytestmark = pytest.mark.ffmpeg


def _truncated(path: Path) -> Path:
    # moov first (faststart), so every header still parses: only the media data is missing.
    whole = make_clip(path.with_name("whole.mp4"), seconds=4, input_args=["-movflags", "+faststart"])
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _corrupt(path: Path) -> Path:
    # The sample tables are overwritten: the container opens but describes nonsense.
    whole = make_clip(path.with_name("whole.mp4"), seconds=2, input_args=["-movflags", "+faststart"])
    data = bytearray(whole.read_bytes())
    stbl = data.index(b"stbl")
    data[stbl + 4 : stbl + 400] = bytes((i * 37 + 11) % 256 for i in range(396))
    path.write_bytes(bytes(data))
    return path


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _subtitles_only(path: Path) -> Path:
    # A Matroska file that opens and holds one stream, a subtitle: neither audio nor video to encode.
    srt = path.with_suffix(".srt")
    srt.write_text("1\n00:00:00,000 --> 00:00:01,500\nhello\n", encoding="utf-8")
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(srt), "-c:s", "srt"]
    subprocess.run([*argv, "-f", "matroska", str(path)], check=True)
    return path


def _huge(path: Path) -> Path:
    # One tiny frame of a size past the default 7680x4320 limit: a decompression bomb in miniature.
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]
    argv += ["-i", "color=size=8192x4608:rate=1:duration=1", "-c:v", "libx264", "-preset", "ultrafast"]
    subprocess.run([*argv, str(path)], check=True)
    return path


CASES: dict[str, tuple[Callable[[Path], Path], str, str, dict[str, object]]] = {
    "truncated": (_truncated, "truncated", "truncated", {}),
    "corrupt": (_corrupt, "corrupt", "damaged", {}),
    "zero-length": (_empty, "empty", "empty", {}),
    "no-audio-no-video": (_subtitles_only, "no_media_stream", "neither a video nor an audio stream", {}),
    "huge-frame": (_huge, "too_large", "8192x4608", {}),
    "too-long": (lambda p: make_clip(p, seconds=3), "too_long", "limit is 2 s", {"max_duration_seconds": 2.0}),
    # 640x360 stored, but its pixel aspect ratio of 20:1 displays it 12800 wide.
    "stretched-past-limit": (
        lambda p: make_clip(p, seconds=1, extra_video_args=["-vf", "setsar=20/1"]),
        "too_large",
        "displayed at 12800x360",
        {},
    ),
    # 2x1000: scaled to 16 pixels wide (transcoder.encode.ladder.MIN_SHORT_SIDE) it would be 8000 high.
    "2x1000-strip": (
        lambda p: make_clip(
            p, seconds=1, size="64x64", extra_video_args=["-vf", "scale=2:1000,setsar=1", "-pix_fmt", "yuv444p"]
        ),
        "bad_aspect",
        "displayed at 2x1000, too thin",
        {},
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_original_fails_once_with_reason_and_publishes_nothing(name: str, tmp_path: Path) -> None:
    make, reason, words, overrides = CASES[name]
    ctx: PipelineContext = pipeline_context(tmp_path, **overrides)
    asset_id, job_id = submit(ctx, make(tmp_path / f"{name}.mp4"))

    run_job(ctx, job_id)  # returns: a TransientError here would mean "retry"

    asset, job = job_outcome(ctx, asset_id, job_id)
    assert job.state == JobState.FAILED and asset.state == AssetState.FAILED
    assert job.error_reason == reason, job.error
    assert asset.error is not None and words in asset.error
    assert job.attempts == 1
    assert list(ctx.store.list("media", f"{asset_id}/")) == []
    assert not list(ctx.settings.work_dir.glob(f"{job_id}*"))  # each attempt's scratch directory, removed

    run_job(ctx, job_id)  # a redelivered message finds the job failed and leaves it alone
    assert job_outcome(ctx, asset_id, job_id)[1].attempts == 1
