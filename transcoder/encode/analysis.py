"""The content-aware ladder's measurements: short samples of the source encoded at several
resolutions and CRFs, each scored with VMAF against the source at its display size.

Planning (which windows, resolutions, CRFs; the argv) is pure; `measure` is the one function that
runs ffmpeg (in the sandbox, through transcoder.encode.runner). Two ffmpeg runs per window: one
decode feeding every sample encode through a split, then one decode of the source feeding one
libvmaf instance per sample. VMAF is computed on every second frame (VMAF_SUBSAMPLE): libvmaf's
`n_subsample` skews its motion feature (identical frames of testsrc2 scored 97.6 on every frame, 95.9 on
every 4th), and the targets are absolute, so the setting is the one that kept the measured points: on
the grain and BBB trailer windows, every 2nd frame read at most 1.6 VMAF off every frame's (every 3rd
2.4, every 4th 3.9, both moved rungs) and chose the same sizes, within 8 % of the bits, for 25-43 %
less VMAF CPU (bench/ladder_analysis.py --vmaf-subsample 1,2,3,4; BENCHMARKS.md). The cost is bounded
by sampling little: one 2 s window per 30 s of source, at most five.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from transcoder.encode.commands import source_input
from transcoder.encode.hull import Measurement
from transcoder.encode.ladder import even
from transcoder.encode.runner import run_ffmpeg

# Short sides tried (Apple's ladder without its duplicates); the source's own size is added when it
# is well above the largest of them that fits.
SHORT_SIDES: tuple[int, ...] = (234, 360, 540, 720, 1080)
# Three CRFs 7 apart span VMAF ~70-97 on most content; the hull reads between them in log(bits), where
# x264's CRF and bit rate are close to linear (a fourth point cost a third more analysis).
CRFS: tuple[float, ...] = (22.0, 29.0, 36.0)
WINDOW_SECONDS = 2.0
MAX_WINDOWS = 5
SECONDS_PER_WINDOW = 30.0  # one window per this much source, up to MAX_WINDOWS
VMAF_SUBSAMPLE = 2


@dataclass(frozen=True)
class AnalysisPlan:
    source: str
    display_width: int
    display_height: int
    frame_rate: float
    interlaced: bool
    windows: tuple[tuple[float, float], ...]  # (start, duration) in source seconds
    shorts: tuple[int, ...]
    crfs: tuple[float, ...]
    preset: str = "veryfast"
    vmaf_subsample: int = VMAF_SUBSAMPLE

    @property
    def sampled_seconds(self) -> float:
        return sum(d for _s, d in self.windows)


def sample_windows(duration: float, *, window: float = WINDOW_SECONDS) -> tuple[tuple[float, float], ...]:
    """Windows spread over the source (centred in equal parts), or the whole of a short source."""
    if duration <= 0:
        raise ValueError("a source without duration cannot be analysed")
    count = max(1, min(MAX_WINDOWS, int(duration // SECONDS_PER_WINDOW)))
    if duration <= window * count:
        return ((0.0, round(duration, 3)),)
    part = duration / count
    return tuple((round(part * i + (part - window) / 2, 3), window) for i in range(count))


def on_frame_grid(start: float, frame_rate: float) -> float:
    """`start` moved to a quarter of a frame before the nearest frame time. A window starting about
    half a frame after a frame is cut differently by the encode's and the reference's decodes (the
    fps filter rounds that first frame to one slot or the next): with the BBB trailer at 24 fps, a
    window from 26.562 s scored a lossless sample VMAF 75.7 against its own reference, from 26.565 s 99.0."""
    if frame_rate <= 0 or start <= 0:
        return max(0.0, start)
    return max(0.0, round((round(start * frame_rate) - 0.25) / frame_rate, 6))


def sample_shorts(display_width: int, display_height: int) -> tuple[int, ...]:
    """Short sides to try: each of SHORT_SIDES that fits, and the source's own when well above them."""
    src_short = min(display_width, display_height)
    fits = [s for s in SHORT_SIDES if s <= src_short]
    if not fits or src_short > fits[-1] * 1.10:
        fits.append(even(src_short))
    return tuple(fits)


def plan_analysis(
    source: str,
    duration: float,
    display_width: int,
    display_height: int,
    frame_rate: float,
    *,
    interlaced: bool = False,
    preset: str = "veryfast",
    crfs: tuple[float, ...] = CRFS,
) -> AnalysisPlan:
    return AnalysisPlan(
        source=source,
        display_width=even(display_width),
        display_height=even(display_height),
        frame_rate=frame_rate,
        interlaced=interlaced,
        windows=tuple((on_frame_grid(start, frame_rate), length) for start, length in sample_windows(duration)),
        shorts=sample_shorts(display_width, display_height),
        crfs=crfs,
        preset=preset,
    )


def sample_size(plan: AnalysisPlan, short: int) -> tuple[int, int]:
    w, h = plan.display_width, plan.display_height
    if w >= h:
        return even(short * w / h), even(short)
    return even(short), even(short * h / w)


def sample_name(short: int, crf: float) -> str:
    return f"s{short}-crf{crf:g}.h264"


def _window_input(plan: AnalysisPlan, start: float, length: float) -> ffmpeg.nodes.FilterableStream:
    video = source_input(plan.source, ss=start, t=length).video
    if plan.interlaced:
        video = video.filter("bwdif", mode="send_frame", parity="auto", deint="all")
    return video.filter("fps", fps=plan.frame_rate)


def encode_argv(plan: AnalysisPlan, window: tuple[float, float], out_dir: Path, ffmpeg_exe: str) -> list[str]:
    """One run: the window decoded once, every (short side, CRF) sample encoded from a split, as raw
    H.264 (no container bytes in the bit rate), with the ladder's preset and keyframe spacing."""
    start, length = window
    pairs = [(short, crf) for short in plan.shorts for crf in plan.crfs]
    branches = _window_input(plan, start, length).filter_multi_output("split", len(pairs))
    outputs = []
    for i, (short, crf) in enumerate(pairs):
        width, height = sample_size(plan, short)
        scaled = branches.stream(i).filter("scale", width, height, flags="bicubic").filter("format", "yuv420p")
        outputs.append(
            ffmpeg.output(
                scaled,
                str(out_dir / sample_name(short, crf)),
                vcodec="libx264",
                preset=plan.preset,
                crf=crf,
                g=max(1, round(plan.frame_rate * 2)),
                f="h264",
            )
        )
    graph = ffmpeg.merge_outputs(*outputs).global_args("-hide_banner", "-nostdin", "-loglevel", "error")
    return [ffmpeg_exe, *graph.overwrite_output().get_args()]


def vmaf_argv(plan: AnalysisPlan, window: tuple[float, float], out_dir: Path, ffmpeg_exe: str) -> list[str]:
    """One run: the window decoded once as the reference (at display size), each sample decoded and
    upscaled to it (bicubic, as players do) and scored by its own libvmaf into a JSON log."""
    start, length = window
    pairs = [(short, crf) for short in plan.shorts for crf in plan.crfs]
    size = (plan.display_width, plan.display_height)
    reference = (
        _window_input(plan, start, length)
        .filter("scale", *size, flags="bicubic")
        .filter("format", "yuv420p")
        .filter("setpts", "N/FR/TB")
        .filter_multi_output("split", len(pairs))
    )
    outputs = []
    for i, (short, crf) in enumerate(pairs):
        sample = (
            ffmpeg.input(str(out_dir / sample_name(short, crf)), f="h264", framerate=plan.frame_rate)
            .video.filter("scale", *size, flags="bicubic")
            .filter("format", "yuv420p")
            .filter("setpts", "N/FR/TB")
        )
        scored = ffmpeg.filter(
            [sample, reference.stream(i)],
            "libvmaf",
            log_path=str(out_dir / f"{sample_name(short, crf)}.json"),
            log_fmt="json",
            n_subsample=plan.vmaf_subsample,
            n_threads=1,
        )
        outputs.append(ffmpeg.output(scored, "-", f="null"))
    graph = ffmpeg.merge_outputs(*outputs).global_args("-hide_banner", "-nostdin", "-loglevel", "error")
    return [ffmpeg_exe, *graph.get_args()]


def read_vmaf_log(path: Path) -> float:
    """The mean VMAF of a libvmaf JSON log."""
    doc = json.loads(path.read_text())
    return float(doc["pooled_metrics"]["vmaf"]["mean"])


def measure(plan: AnalysisPlan, work: Path, ffmpeg_exe: str, *, timeout: float) -> list[Measurement]:
    """Run the samples of `plan` in `work` and return one Measurement per (short side, CRF): bits
    and frames summed over the windows, VMAF averaged weighted by each window's length."""
    totals: dict[tuple[int, float], list[float]] = {}  # [bytes, seconds, vmaf x seconds]
    for n, window in enumerate(plan.windows):
        out = work / f"window-{n}"
        out.mkdir(parents=True, exist_ok=True)
        run_ffmpeg(encode_argv(plan, window, out, ffmpeg_exe), timeout=timeout)
        run_ffmpeg(vmaf_argv(plan, window, out, ffmpeg_exe), timeout=timeout)
        for short in plan.shorts:
            for crf in plan.crfs:
                name = sample_name(short, crf)
                acc = totals.setdefault((short, crf), [0.0, 0.0, 0.0])
                acc[0] += (out / name).stat().st_size
                acc[1] += window[1]
                acc[2] += read_vmaf_log(out / f"{name}.json") * window[1]
    return [
        Measurement(short=short, crf=crf, bitrate=round(size * 8 / seconds), vmaf=round(score / seconds, 3))
        for (short, crf), (size, seconds, score) in sorted(totals.items())
    ]
