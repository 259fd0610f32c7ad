"""What the content-aware ladder's analysis costs, split into its sample encodes and its VMAF runs.

    .venv/bin/python bench/ladder_analysis.py SOURCE [--vmaf-subsample 1] [--preset veryfast]
        [--crfs 22,25.5,29,32.5,36]

Runs transcoder.encode.analysis's two ffmpeg commands per window on SOURCE (probed here) exactly as a
job plans them, and prints the CPU seconds of each kind (this process's children) and every sample's
bit rate and VMAF, so that a cheaper analysis (another n_subsample, preset or CRF set) can be compared
point for point with the one the job runs.

With --crfs holding the job's CRFs (analysis.CRFS) and others, each other point is also read off the curve
the job's CRFs alone give (transcoder.encode.hull.Curve, piecewise linear in log(bits)) at its measured bit
rate: how far the job's curve is from a point it did not measure, where it bends between its CRFs.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ladder import ffmpeg_exe, probe_size  # noqa: E402
from transcoder.encode import analysis  # noqa: E402
from transcoder.encode.hull import Curve, Measurement  # noqa: E402


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def frame_rate(source: Path) -> float:
    import av

    with av.open(str(source)) as container:
        return float(container.streams.video[0].average_rate or 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("--vmaf-subsample", type=int, default=analysis.VMAF_SUBSAMPLE)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--crfs", default=",".join(f"{c:g}" for c in analysis.CRFS))
    args = parser.parse_args()
    width, height, duration = probe_size(args.source)
    plan = analysis.plan_analysis(
        str(args.source), duration, width, height, frame_rate(args.source), preset=args.preset
    )
    crfs = tuple(sorted(float(c) for c in args.crfs.split(",")))
    plan = replace(plan, vmaf_subsample=args.vmaf_subsample, crfs=crfs)
    encode_cpu = vmaf_cpu = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        totals: dict[tuple[int, float], list[float]] = {}
        for window in plan.windows:
            before = children_cpu()
            subprocess.run(analysis.encode_argv(plan, window, out, ffmpeg_exe()), check=True)
            encode_cpu += children_cpu() - before
            before = children_cpu()
            subprocess.run(analysis.vmaf_argv(plan, window, out, ffmpeg_exe()), check=True)
            vmaf_cpu += children_cpu() - before
            for short in plan.shorts:
                for crf in plan.crfs:
                    name = analysis.sample_name(short, crf)
                    acc = totals.setdefault((short, crf), [0.0, 0.0, 0.0])
                    acc[0] += (out / name).stat().st_size * 8
                    acc[1] += window[1]
                    acc[2] += analysis.read_vmaf_log(out / f"{name}.json") * window[1]
    print(
        f"{args.source.name}: windows {plan.windows}, sizes {plan.shorts}, CRFs {plan.crfs},"
        f" n_subsample {plan.vmaf_subsample}"
    )
    print(f"  CPU s: sample encodes {encode_cpu:.1f}, VMAF {vmaf_cpu:.1f}")
    points = [
        Measurement(short, crf, round(bits / seconds), score / seconds)
        for (short, crf), (bits, seconds, score) in sorted(totals.items())
    ]
    for m in points:
        print(f"  {m.short:5d}p CRF {m.crf:4g}: {m.bitrate / 1e3:8.0f} kbit/s  VMAF {m.vmaf:6.2f}")
    for short in plan.shorts:
        job_curve = Curve(short, [m for m in points if m.short == short and m.crf in analysis.CRFS])
        for m in points:
            if m.short == short and m.crf not in analysis.CRFS:
                read = job_curve.vmaf_at(m.bitrate)
                gap = read - m.vmaf
                print(f"  {short:5d}p CRF {m.crf:4g}: the job's curve reads VMAF {read:6.2f} there ({gap:+.2f})")


if __name__ == "__main__":
    main()
