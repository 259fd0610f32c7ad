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

# Slower x264 presets a content-aware ladder may take in place of the job's veryfast, fastest first:
# (preset, CPU per encoded pixel against veryfast, CRF offset at which it spends what veryfast spends at
# a CRF). Measured by bench/x264_presets.py on the BBB trailer at 720p (BENCHMARKS.md; BD-rate against
# veryfast -11.4 %, -15.8 %, -21.3 %; the CPU ratios on a loaded machine, which if anything overstates them):
# the analysis samples at veryfast, and a rung encoded slower at the CRF plus the offset spends about the
# bits it was planned at (its bounds and spacing hold) and looks better for them.
SLOWER_PRESETS: tuple[tuple[str, float, float], ...] = (
    ("faster", 1.9, 2.1),
    ("fast", 2.2, 2.6),
    ("medium", 2.7, 2.3),
)
BUDGET_BASE_PRESET = "veryfast"  # what SLOWER_PRESETS are measured against
# The share of the fixed ladder's estimated encode CPU the content-aware job (analysis included) may spend.
# The estimate counts pixels alone, which undercounts the fixed ladder: its rungs spend more bits per pixel
# than fitted ones, and x264 spends more CPU on more bits.
BUDGET_SHARE = 0.95
# A rung planned to spend this little keeps the job's preset: it is at x264's floor, where a slower preset has
# no bits to save. The static slide's one 1080p rung (planned at CRF 22) spent 21 kbit/s at VMAF 91.7 at
# veryfast, and 28.9 kbit/s at VMAF 89.7 at medium (CRF 24.3): worse on both counts (the longer lookahead
# gives its keyframes to a static picture).
BUDGET_MIN_BITRATE = 2 * MIN_VIDEO_BITRATE
# An analysis sample's VMAF costs about this share of a veryfast encode of a picture of the display size
# (the reference decoded and scaled, every second frame scored): grain's window, 19.8 CPU s of VMAF for 12
# samples against 18.3 s for their encodes at 234p-720p.
VMAF_SAMPLE_COST = 0.5
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


def pixel_seconds(rungs: tuple[Rung, ...], seconds: float) -> float:
    """What encoding `rungs` for `seconds` costs, in pixels encoded per second of frame rate (all rungs of
    a ladder share one): x264's CPU at one preset grows about with the pixels it encodes."""
    return sum(rung.width * rung.height for rung in rungs) * seconds


def analysis_pixel_seconds(plan: analysis.AnalysisPlan) -> float:
    """The analysis's cost on the same scale: every sample encoded, and its VMAF at the display size."""
    samples = len(plan.crfs) * len(plan.shorts)
    encoded = sum(w * h for w, h in (analysis.sample_size(plan, short) for short in plan.shorts)) * len(plan.crfs)
    scored = VMAF_SAMPLE_COST * samples * plan.display_width * plan.display_height
    return (encoded + scored) * plan.sampled_seconds


def budget_preset(ladder: Ladder, fixed: Ladder, plan: analysis.AnalysisPlan, base: str, seconds: float) -> Ladder:
    """`ladder` with its H.264 rungs moved to the slowest of SLOWER_PRESETS whose estimated CPU, with the
    analysis's, stays within BUDGET_SHARE of what the `fixed` ladder would have cost at `base`: fewer rungs
    leave CPU that buys fewer bits for the same picture (per-title encoding's trade). Each moved rung's CRF
    is offset to spend what it was planned at; a rung planned at x264's floor (BUDGET_MIN_BITRATE) is not
    moved. Unchanged when the job's preset is not BUDGET_BASE_PRESET (the offsets are measured against it)
    or no slower preset fits."""
    if base != BUDGET_BASE_PRESET:
        return ladder
    budget = BUDGET_SHARE * pixel_seconds(fixed.rungs, seconds) - analysis_pixel_seconds(plan)
    cost = pixel_seconds(ladder.rungs, seconds)
    fitting = [(preset, offset) for preset, factor, offset in SLOWER_PRESETS if cost * factor <= budget]
    if not fitting:
        return ladder
    preset, offset = fitting[-1]
    rungs = tuple(
        replace(rung, preset=preset, crf=round(rung.crf + offset, 2))
        if rung.crf is not None and rung.bitrate > BUDGET_MIN_BITRATE
        else rung
        for rung in ladder.rungs
    )
    return replace(ladder, rungs=rungs)


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
    measurements: list[hull.Measurement],
    info: MediaInfo,
    *,
    source_bytes: int | None,
    policy: hull.HullPolicy,
    fixed: Ladder | None = None,
    preset: str = BUDGET_BASE_PRESET,
) -> Ladder:
    """The fitted ladder of a source from its measurements, no rung spending more than the source's video
    (`source_video_bitrate`); with `fixed` (the ladder the source would otherwise get) and the job's
    x264 `preset`, on the slowest preset the CPU it saves allows (`budget_preset`)."""
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
    ladder = fitted_ladder(
        choices,
        display_w,
        display_h,
        info.picture().frame_rate,
        has_audio=has_audio,
        audio_bitrate=STEREO_BITRATE,
        audio_stream=info.audio.index if info.audio else 0,
    )
    if fixed is None:
        return ladder
    return budget_preset(ladder, fixed, analysis_plan(info, "", preset), preset, info.duration)


def analysis_plan(info: MediaInfo, source: str, preset: str) -> analysis.AnalysisPlan:
    display_w, display_h = info.picture().display_size
    return analysis.plan_analysis(
        source,
        info.duration,
        display_w,
        display_h,
        info.picture().frame_rate,
        interlaced=info.picture().interlaced,
        preset=preset,
    )


def measure_source(source: str, info: MediaInfo, work: Path, ffmpeg_exe: str, *, preset: str) -> list[hull.Measurement]:
    """Run the analysis of `source` (probed as `info`) in `work`."""
    return analysis.measure(analysis_plan(info, source, preset), work, ffmpeg_exe, timeout=ANALYSIS_TIMEOUT_SECONDS)
