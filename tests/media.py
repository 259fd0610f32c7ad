"""Make test sources with the bundled ffmpeg (lavfi test patterns), cached per session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def make_clip(
    dest: Path,
    *,
    seconds: float = 6.0,
    size: str = "640x360",
    rate: str = "30",
    audio: bool = True,
    channels: int = 2,
    extra_video_args: list[str] | None = None,
    input_args: list[str] | None = None,
) -> Path:
    """A test pattern (testsrc2) with a sine tone, H.264/AAC in MP4."""
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    argv += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        layout = {1: "mono", 2: "stereo", 6: "5.1"}[channels]
        argv += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
        argv += ["-filter_complex", f"[1:a]aformat=channel_layouts={layout}[a]", "-map", "0:v", "-map", "[a]"]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *(extra_video_args or [])]
    if audio:
        argv += ["-c:a", "aac", "-b:a", "96k"]
    argv += [*(input_args or []), str(dest)]
    subprocess.run(argv, check=True)
    return dest


def media_duration(url_or_path: str) -> float:
    """Decode everything with ffmpeg as a player would; return the decoded duration in seconds.

    Raises CalledProcessError if ffmpeg reports any decoding error.
    """
    proc = subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-xerror",
            "-i",
            url_or_path,
            "-map",
            "0:v:0",
            "-f",
            "null",
            "-progress",
            "pipe:1",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # ffmpeg's HLS demuxer, reading a multivariant playlist of fMP4 rungs, runs a stream parser over
    # interleaved fragments of the rungs it does not decode and logs "[NULL @ ...] Invalid NAL unit
    # size"; it does the same on ffmpeg's own `-master_pl_name` output, so those parser lines are not
    # ours. Decoder errors ("[h264 @ ...]", "[aac @ ...]") and everything else still fail the check.
    errors = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("[NULL @")]
    if proc.returncode != 0 or errors:
        raise AssertionError(f"ffmpeg could not play {url_or_path}: {proc.stderr.strip()[-2000:]}")
    out_us = [
        int(line.split("=", 1)[1])
        for line in proc.stdout.splitlines()
        if line.startswith("out_time_us=") and line.split("=", 1)[1].strip().lstrip("-").isdigit()
    ]
    return max(out_us) / 1_000_000 if out_us else 0.0
