"""What the content-aware ladder's analysis costs, split into its sample encodes and its VMAF runs.

    .venv/bin/python bench/ladder_analysis.py SOURCE [--vmaf-subsample 1[,2,3,4]] [--preset veryfast]
        [--crfs 22,25.5,29,32.5,36]

Runs transcoder.encode.analysis's two ffmpeg commands per window on SOURCE (probed here) exactly as a
job plans them, and prints the CPU seconds of each kind (this process's children) and every sample's
bit rate and VMAF, so that a cheaper analysis (another n_subsample, preset or CRF set) can be compared
point for point with the one the job runs.

With --crfs holding the job's CRFs (analysis.CRFS) and others, each other point is also read off the curve
the job's CRFs alone give (transcoder.encode.hull.Curve, piecewise linear in log(bits)) at its measured bit
rate: how far the job's curve is from a point it did not measure, where it bends between its CRFs.

With several --vmaf-subsample values, the same samples are scored once per value (the first is the
reference): each value's VMAF CPU seconds and its largest difference from the first, point for point.
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
    parser.add_argument("--vmaf-subsample", default=str(analysis.VMAF_SUBSAMPLE))
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--crfs", default=",".join(f"{c:g}" for c in analysis.CRFS))
    args = parser.parse_args()
    width, height, duration = probe_size(args.source)
    plan = analysis.plan_analysis(
        str(args.source), duration, width, height, frame_rate(args.source), preset=args.preset
    )
    crfs = tuple(sorted(float(c) for c in args.crfs.split(",")))
    subsamples = [int(n) for n in args.vmaf_subsample.split(",")]
    plan = replace(plan, vmaf_subsample=subsamples[0], crfs=crfs)
    encode_cpu = 0.0
    vmaf_cpu = dict.fromkeys(subsamples, 0.0)
    # (short, CRF) -> [bits, seconds, {n_subsample: VMAF x seconds}]
    totals: dict[tuple[int, float], tuple[list[float], dict[int, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for window in plan.windows:
            before = children_cpu()
            subprocess.run(analysis.encode_argv(plan, window, out, ffmpeg_exe()), check=True)
            encode_cpu += children_cpu() - before
            for n in subsamples:
                before = children_cpu()
                subprocess.run(
                    analysis.vmaf_argv(replace(plan, vmaf_subsample=n), window, out, ffmpeg_exe()), check=True
                )
                vmaf_cpu[n] += children_cpu() - before
                for short in plan.shorts:
                    for crf in plan.crfs:
                        name = analysis.sample_name(short, crf)
                        sizes, scores = totals.setdefault((short, crf), ([0.0, 0.0], {}))
                        if n == subsamples[0]:
                            sizes[0] += (out / name).stat().st_size * 8
                            sizes[1] += window[1]
                        scores[n] = scores.get(n, 0.0) + analysis.read_vmaf_log(out / f"{name}.json") * window[1]
    print(f"{args.source.name}: windows {plan.windows}, sizes {plan.shorts}, CRFs {plan.crfs}")
    print(f"  CPU s: sample encodes {encode_cpu:.1f}, VMAF {vmaf_cpu[subsamples[0]]:.1f} (n_subsample {subsamples[0]})")
    for n in subsamples[1:]:
        diffs = [(scores[n] - scores[subsamples[0]]) / sizes[1] for sizes, scores in totals.values()]
        print(
            f"  n_subsample {n}: VMAF CPU s {vmaf_cpu[n]:.1f}, against {subsamples[0]}: largest difference"
            f" {max(diffs, key=abs):+.2f}, mean {sum(diffs) / len(diffs):+.2f}"
        )
        for (short, crf), (_sizes, scores) in sorted(totals.items()):
            print(f"    {short:5d}p CRF {crf:4g}: VMAF {scores[n] / _sizes[1]:6.2f}")
    points = [
        Measurement(short, crf, round(sizes[0] / sizes[1]), scores[subsamples[0]] / sizes[1])
        for (short, crf), (sizes, scores) in sorted(totals.items())
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
