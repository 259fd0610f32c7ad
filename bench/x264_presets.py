"""What a slower x264 preset buys against veryfast (the job's): the numbers behind
transcoder.encode.fitted.SLOWER_PRESETS.

    .venv/bin/python bench/x264_presets.py SOURCE [SOURCE ...] [--short 720] [--presets veryfast,faster,fast,medium]
        [--crfs 22,27,32] [--seconds 0] [--vmaf-subsample 2]

Each source is encoded at one size (--short: its short side), video only, at each preset and CRF, with the
ladder's GOP (4 s, no scene cuts); each encode is scored with VMAF against the source at its display size
(the encode upscaled bicubic, as bench/ladder.py scores rungs). Printed per preset, against veryfast:
- CPU: user + system seconds of the encodes (this process's children, not wall time), summed over the CRFs;
- BD-rate: the bits at equal VMAF (bench/rate_quality.py's bd_rate over the common VMAF range);
- CRF offset: how much higher a CRF this preset needs to spend what veryfast spends at the middle CRF
  (log bits interpolated linearly in CRF between the measured points), the offset the content-aware
  ladder adds when it moves a rung planned at veryfast to this preset;
- VMAF gained at those equal bits.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import imageio_ffmpeg  # noqa: E402

from bench.rate_quality import RungResult, bd_rate  # noqa: E402

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def display_size(source: str) -> tuple[int, int]:
    probe = subprocess.run([FFMPEG, "-i", source], capture_output=True, text=True).stderr
    for line in probe.splitlines():
        if "Video:" in line:
            for token in line.replace(",", " ").split():
                if "x" in token and token.split("x")[0].isdigit() and token.split("x")[1].isdigit():
                    w, h = token.split("x")
                    return int(w), int(h)
    raise SystemExit(f"no video stream in {source}")


def encode(source: str, out: Path, short: int, preset: str, crf: float, seconds: float) -> tuple[int, float]:
    """(bits of the encode, CPU seconds it took)."""
    before = children_cpu()
    limit = ["-t", f"{seconds:g}"] if seconds > 0 else []
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", *limit, "-i", source, "-an", "-vf", f"scale=-2:{short}:flags=bicubic",
         "-c:v", "libx264", "-preset", preset, "-crf", f"{crf:g}", "-g", "96", "-keyint_min", "96",
         "-sc_threshold", "0", str(out)],
        check=True,
    )  # fmt: skip
    return out.stat().st_size * 8, children_cpu() - before


def vmaf(encoded: Path, source: str, size: tuple[int, int], seconds: float, subsample: int, log: Path) -> float:
    limit = ["-t", f"{seconds:g}"] if seconds > 0 else []
    graph = (
        f"[0:v]scale={size[0]}:{size[1]}:flags=bicubic,setpts=PTS-STARTPTS[d];[1:v]setpts=PTS-STARTPTS[r];"
        f"[d][r]libvmaf=n_subsample={subsample}:n_threads={os.cpu_count() or 1}:log_fmt=json:log_path={log}"
    )
    subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(encoded), *limit, "-i", source, "-lavfi", graph, "-f", "null", "-"],
        check=True,
    )
    return float(json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"])


def crf_for_bits(points: list[tuple[float, int]], bits: float) -> float | None:
    """The CRF that spends `bits`, log(bits) linear in CRF between measured (crf, bits) points."""
    pts = sorted(points)
    for (c0, b0), (c1, b1) in zip(pts, pts[1:], strict=False):
        lo, hi = sorted((math.log(b0), math.log(b1)))
        if lo <= math.log(bits) <= hi:
            return c0 + (c1 - c0) * (math.log(bits) - math.log(b0)) / (math.log(b1) - math.log(b0))
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sources", nargs="+")
    parser.add_argument("--short", type=int, default=720)
    parser.add_argument("--presets", default="veryfast,faster,fast,medium")
    parser.add_argument("--crfs", default="22,27,32")
    parser.add_argument("--seconds", type=float, default=0.0, help="only the first N seconds (0: all)")
    parser.add_argument("--vmaf-subsample", type=int, default=2)
    args = parser.parse_args()
    presets = args.presets.split(",")
    crfs = [float(c) for c in args.crfs.split(",")]
    if presets[0] != "veryfast":
        raise SystemExit("the first preset is the anchor, veryfast")
    work = Path(tempfile.mkdtemp(prefix="x264-presets-"))
    for source in args.sources:
        size = display_size(source)
        results: dict[str, list[tuple[float, int, float, float]]] = {}  # preset -> (crf, bits, vmaf, cpu)
        for preset in presets:
            for crf in crfs:
                out = work / f"{Path(source).stem}-{preset}-{crf:g}.mp4"
                bits, cpu = encode(source, out, args.short, preset, crf, args.seconds)
                score = vmaf(out, source, size, args.seconds, args.vmaf_subsample, out.with_suffix(".json"))
                results.setdefault(preset, []).append((crf, bits, score, cpu))
                print(f"{Path(source).name} {args.short}p {preset:<9} CRF {crf:g}: {bits / 1e6:8.2f} Mbit, "
                      f"VMAF {score:6.2f}, {cpu:6.1f} CPU s", flush=True)  # fmt: skip
        anchor = results["veryfast"]
        middle = anchor[len(anchor) // 2]
        print(f"\n{Path(source).name} at {args.short}p, against veryfast (middle CRF {middle[0]:g}):")
        print("| preset | CPU | BD-rate | CRF offset at equal bits | VMAF gained there |")
        print("|---|---|---|---|---|")
        for preset in presets:
            rows = results[preset]
            cpu = sum(r[3] for r in rows) / sum(r[3] for r in anchor)
            bd = bd_rate(
                [RungResult(f"{r[0]:g}", args.short, r[1], r[2]) for r in anchor],
                [RungResult(f"{r[0]:g}", args.short, r[1], r[2]) for r in rows],
            )
            equal = crf_for_bits([(r[0], r[1]) for r in rows], middle[1])
            if equal is None:
                offset = gained = "n/a"
            else:
                offset = f"{equal - middle[0]:+.2f}"
                # VMAF at that CRF, linear in CRF between this preset's points
                pts = sorted((r[0], r[2]) for r in rows)
                at = next(
                    v0 + (v1 - v0) * (equal - c0) / (c1 - c0)
                    for (c0, v0), (c1, v1) in zip(pts, pts[1:], strict=False)
                    if c0 <= equal <= c1
                )
                gained = f"{at - middle[2]:+.2f}"
            bd_text = "n/a" if bd is None else f"{bd:+.1f} %"
            print(f"| {preset} | {cpu:.2f}x | {bd_text} | {offset} | {gained} |")


if __name__ == "__main__":
    main()
