"""How representative the content-aware analysis's windows are, by a cheap complexity scan.

    .venv/bin/python bench/ladder_windows.py SOURCE [--width 320] [--crf 30]

The whole source is decoded once, scaled to --width, and encoded with x264 ultrafast at one CRF: what each
stretch of that encode spends is a cheap measure of how hard the stretch is to encode. Printed: the scan's
CPU seconds (this process's children) against the analysis's, the bits of every analysis-length window
(transcoder.encode.analysis.WINDOW_SECONDS) laid end to end, and where the windows the job samples
(analysis.plan_analysis) fall among them: a window far above the median makes every rung spend more than
the source needs on average.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ladder import ffmpeg_exe, probe_size  # noqa: E402
from bench.ladder_analysis import children_cpu, frame_rate  # noqa: E402
from transcoder.encode import analysis  # noqa: E402


def packet_bits(encoded: Path) -> list[tuple[float, int]]:
    """(presentation time in s, bits) of every video packet of `encoded`."""
    import av

    with av.open(str(encoded)) as container:
        stream = container.streams.video[0]
        return [
            (float(p.pts * stream.time_base), p.size * 8)
            for p in container.demux(stream)
            if p.pts is not None and stream.time_base is not None
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--crf", type=float, default=30.0)
    args = parser.parse_args()
    width, height, duration = probe_size(args.source)
    plan = analysis.plan_analysis(str(args.source), duration, width, height, frame_rate(args.source))
    with tempfile.TemporaryDirectory() as tmp:
        encoded = Path(tmp) / "scan.mkv"
        before = children_cpu()
        subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(args.source), "-an",
             "-vf", f"scale={args.width}:-2", "-c:v", "libx264", "-preset", "ultrafast", "-crf", f"{args.crf:g}",
             "-g", str(max(1, round(plan.frame_rate * 2))), str(encoded)],
            check=True,
        )  # fmt: skip
        scan_cpu = children_cpu() - before
        packets = packet_bits(encoded)
    size = analysis.WINDOW_SECONDS
    count = max(1, int(duration // size))
    windows = [0] * count
    for pts, bits in packets:
        windows[min(count - 1, max(0, int(pts // size)))] += bits
    rates = [bits / size for bits in windows]
    median = statistics.median(rates)
    print(f"{args.source.name}: {duration:.1f} s, scan at {args.width} px CRF {args.crf:g}: CPU {scan_cpu:.1f} s")
    print(
        f"  {count} windows of {size:g} s: kbit/s min {min(rates) / 1e3:.0f}, median {median / 1e3:.0f},"
        f" mean {statistics.fmean(rates) / 1e3:.0f}, max {max(rates) / 1e3:.0f}"
    )
    for start, length in plan.windows:
        first, last = int(start // size), int((start + length) // size)
        picked = statistics.fmean(rates[first : min(count, last + 1)])
        rank = sum(r <= picked for r in rates) / count
        print(
            f"  the job's window at {start:.2f} s ({length:g} s): {picked / 1e3:.0f} kbit/s,"
            f" {picked / median:.2f}x the median, above {rank:.0%} of the windows"
        )
    nearest = min(range(count), key=lambda i: abs(rates[i] - median))
    print(f"  the window nearest the median starts at {nearest * size:g} s")


if __name__ == "__main__":
    main()
