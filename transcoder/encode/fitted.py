"""The content-aware ladder of one source: measure samples (transcoder.encode.analysis), choose rungs
on the hull (transcoder.encode.hull), make them rungs like the fixed ladder's (transcoder.encode.ladder).

`fitted_ladder` and `ladder_from_measurements` are pure; `measure_source` runs the analysis. The
pipeline keeps the fixed ladder for sources shorter than its setting: their whole encode costs little
more than the analysis would.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from media.probe import MIN_SHORT_SIDE, MediaInfo
from transcoder.encode import analysis, hull
from transcoder.encode.audio import STEREO_BITRATE
from transcoder.encode.ladder import (
    HIGH_FPS_BITRATE_FACTOR,
    MIN_VIDEO_BITRATE,
    Ladder,
    Rung,
    build_rungs,
    even,
    h264_level,
    output_frame_rate,
)

# Wall-clock limit of each of the analysis's ffmpeg runs.
ANALYSIS_TIMEOUT_SECONDS = 900.0
# A capped-CRF rung's VBV buffer, in multiples of its maxrate.
CRF_BUFSIZE_FACTOR = 2.0


def fitted_ladder(
    choices: list[hull.Choice],
    display_width: int,
    display_height: int,
    source_frame_rate: float,
    *,
    has_audio: bool,
    audio_bitrate: int = 128_000,
    audio_stream: int = 0,
) -> Ladder:
    """A Ladder from the hull's choices (lowest first), sized for the source's display aspect."""
    if not choices:
        raise ValueError("a ladder needs at least one rung")
    portrait = display_height > display_width
    src_short, src_long = sorted((display_width, display_height))
    aspect = src_long / max(src_short, MIN_SHORT_SIDE)
    rate = output_frame_rate(source_frame_rate)
    picked = [
        (even(c.short), min(even(c.short * aspect), even(max(src_long, c.short))), max(c.bitrate, MIN_VIDEO_BITRATE))
        for c in choices
    ]
    rungs = build_rungs(picked, portrait=portrait, frame_rate=rate)
    rungs = tuple(capped_crf(rung, choice, rate) for rung, choice in zip(rungs, choices, strict=True))
    return Ladder(rungs, rate, audio_bitrate if has_audio else None, audio_stream)


def capped_crf(rung: Rung, choice: hull.Choice, frame_rate: float) -> Rung:
    """`rung` encoded with capped CRF: the choice's CRF, its peak as maxrate, and a VBV buffer of
    CRF_BUFSIZE_FACTOR times it. The fixed ladder's tight buffer (1.5x a target) starved keyframes of a
    rung capped low (VMAF 60 where CRF at the same average gave 97): a looser buffer only lets a keyframe
    borrow from the frames after it; the average stays under maxrate."""
    maxrate = max(choice.peak, MIN_VIDEO_BITRATE)
    return replace(
        rung,
        target_vmaf=choice.target_vmaf,
        sampled_vmaf=choice.predicted_vmaf,
        crf=choice.crf,
        maxrate=maxrate,
        bufsize=int(maxrate * CRF_BUFSIZE_FACTOR),
        level=h264_level(rung.width, rung.height, frame_rate, maxrate),
    )


def source_video_bitrate(info: MediaInfo, source_bytes: int | None) -> int | None:
    """What the source's video spends, bits/s: what caps every rung's peak (hull.HullPolicy.source_margin),
    video against video, since every variant's audio is re-encoded at 128 kbit/s whatever the source's
    spends (the static slide's video spent 25 kbit/s in a 0.10 Mbit/s file). The stream's own rate where the
    container states it; else the whole file over its duration, an upper bound; None when neither is known."""
    stated = info.picture().bit_rate
    if stated:
        return stated
    return round(source_bytes * 8 / info.duration) if source_bytes and info.duration > 0 else None


def ladder_from_measurements(
    measurements: list[hull.Measurement], info: MediaInfo, *, source_bytes: int | None, policy: hull.HullPolicy
) -> Ladder:
    """The fitted ladder of a source from its measurements, no rung's peak above the source's video
    (`source_video_bitrate`)."""
    display_w, display_h = info.picture().display_size
    source_bitrate = source_video_bitrate(info, source_bytes)
    fps_factor = HIGH_FPS_BITRATE_FACTOR if output_frame_rate(info.picture().frame_rate) > 31 else 1.0
    has_audio = info.audio is not None
    choices = hull.choose_rungs(
        measurements,
        source_bitrate=source_bitrate,
        policy=policy,
        fps_factor=fps_factor,
        audio_bitrate=STEREO_BITRATE if has_audio else 0,
    )
    return fitted_ladder(
        choices,
        display_w,
        display_h,
        info.picture().frame_rate,
        has_audio=has_audio,
        audio_bitrate=STEREO_BITRATE,
        audio_stream=info.audio.index if info.audio else 0,
    )


def measure_source(source: str, info: MediaInfo, work: Path, ffmpeg_exe: str, *, preset: str) -> list[hull.Measurement]:
    """Run the analysis of `source` (probed as `info`) in `work`."""
    display_w, display_h = info.picture().display_size
    plan = analysis.plan_analysis(
        source,
        info.duration,
        display_w,
        display_h,
        info.picture().frame_rate,
        interlaced=info.picture().interlaced,
        preset=preset,
    )
    return analysis.measure(plan, work, ffmpeg_exe, timeout=ANALYSIS_TIMEOUT_SECONDS)
