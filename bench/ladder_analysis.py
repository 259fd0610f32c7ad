"""What the content-aware ladder's analysis costs, split into its sample encodes and its VMAF runs.

    .venv/bin/python bench/ladder_analysis.py SOURCE [--vmaf-subsample 1] [--preset veryfast]

Runs transcoder.encode.analysis's two ffmpeg commands per window on SOURCE (probed here) exactly as a
job plans them, and prints the CPU seconds of each kind (this process's children) and every sample's
bit rate and VMAF, so that a cheaper analysis (another n_subsample, preset or CRF set) can be compared
point for point with the one the job runs.
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
    args = parser.parse_args()
    width, height, duration = probe_size(args.source)
    plan = analysis.plan_analysis(
        str(args.source), duration, width, height, frame_rate(args.source), preset=args.preset
    )
    plan = replace(plan, vmaf_subsample=args.vmaf_subsample)
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
    for (short, crf), (bits, seconds, score) in sorted(totals.items()):
        print(f"  {short:5d}p CRF {crf:4g}: {bits / seconds / 1e3:8.0f} kbit/s  VMAF {score / seconds:6.2f}")


if __name__ == "__main__":
    main()
