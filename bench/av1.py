"""AV1 rungs against the H.264 ladder they sit beside, same sources, same run.

    .venv/bin/python bench/av1.py [--clips easy,hard] [--trailer PATH] [--seconds 12]
        [--av1-presets 10,8] [--vmaf-subsample 4] [--keep DIR]

Sources as in bench/ladder.py (easy: 1080p bars with a moving box; hard: 720p test pattern under film
grain; the Big Buck Bunny trailer, 720p24, 55 s, from moviepy 2.1.2's source distribution: --trailer).
For each source the real job (`run_job`, filesystem store, SQLite, the fixed ladder, x264 veryfast) runs
once with VODSTACK_TRANSCODER_AV1=false (the anchor: its CPU time) and once per SVT-AV1 preset with it on.
Printed per rung: the video bit rate of the published rendition (its segments' bytes, no audio) and its
VMAF against the source at display size (bench/ladder.py's vmaf); per source and preset: BD-rate of the
AV1 rungs against the H.264 rungs of the same package (negative = fewer bits at equal VMAF), and what the
AV1 rungs cost: the job's CPU seconds with them minus without, per minute of video, and as a ratio to the
H.264 job's.
Target (issue 17): BD-rate <= -30 %.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

from ladder import bd_rate, make_easy, make_hard, probe_size, run, rung_results


def video_bitrate(rendition: Path, duration: float) -> int:
    """The rendition's own bits per second (its segments over the source's duration): the master's
    AVERAGE-BANDWIDTH includes the audio group's, which would hide the codecs' difference on easy sources."""
    return int(sum(p.stat().st_size for p in rendition.glob("seg_*.m4s")) * 8 / duration)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options: tuple[tuple[str, type, object], ...] = (
        ("--clips", str, "easy,hard"),
        ("--trailer", Path, None),
        ("--seconds", float, 12.0),
        ("--av1-presets", str, "10,8"),
        ("--vmaf-subsample", int, 4),
        ("--keep", Path, None),
    )
    for flag, kind, default in options:
        parser.add_argument(flag, type=kind, default=default)
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-av1-"))
    root.mkdir(parents=True, exist_ok=True)
    makers = {"easy": make_easy, "hard": make_hard}
    sources = {name: makers[name](root / f"{name}.mp4", args.seconds) for name in args.clips.split(",") if name}
    sources |= {"trailer": args.trailer} if args.trailer else {}
    presets = [int(p) for p in args.av1_presets.split(",")]

    summary: dict[int, list[tuple[float | None, float, float]]] = {p: [] for p in presets}
    for name, source in sources.items():
        width, height, duration = probe_size(source)
        print(f"\n{name}: {width}x{height}, {duration:.1f} s")
        _, _, anchor_cpu = run(source, root / f"{name}-h264", "fixed", "veryfast", av1=False)
        print(f"  H.264 only: CPU {anchor_cpu:7.1f} s ({anchor_cpu / duration * 60:.0f} s per minute of video)")
        for preset in presets:
            media, prefix, cpu = run(
                source, root / f"{name}-av1-p{preset}", "fixed", "veryfast", av1=True, av1_preset=preset
            )
            rungs = [
                replace(r, bitrate=video_bitrate(media / prefix / r.name, duration))
                for r in rung_results(media, prefix, source, (width, height), args.vmaf_subsample)
            ]
            h264 = [r for r in rungs if not r.name.endswith("-av1")]
            av1 = [r for r in rungs if r.name.endswith("-av1")]
            extra = cpu - anchor_cpu
            bd = bd_rate(h264, av1)
            print(f"  SVT-AV1 preset {preset}: job CPU {cpu:7.1f} s")
            for family, results in (("H.264", h264), ("AV1", av1)):
                for r in results:
                    print(
                        f"    {family:5s} {r.name:14s} {r.height:5d}p {r.bitrate / 1e3:8.0f} kbit/s  VMAF {r.vmaf:6.2f}"
                    )
            print(
                f"    BD-rate AV1 vs H.264: {'n/a' if bd is None else f'{bd:+.1f} %'}   AV1 rungs' CPU: "
                f"{extra / duration * 60:.0f} s per minute of video, x{extra / max(anchor_cpu, 1e-9):.2f} the H.264 job"
            )
            summary[preset].append((bd, extra / duration * 60, extra / max(anchor_cpu, 1e-9)))
    print()
    for preset, rows in summary.items():
        rates = [bd for bd, _, _ in rows if bd is not None]
        mean_bd = f"{sum(rates) / len(rates):+.1f} %" if rates else "n/a"
        cpu_min = sum(c for _, c, _ in rows) / max(len(rows), 1)
        ratio = sum(r for _, _, r in rows) / max(len(rows), 1)
        print(
            f"preset {preset}: mean BD-rate {mean_bd} (target <= -30 %), "
            f"AV1 CPU {cpu_min:.0f} s/min, x{ratio:.2f} H.264"
        )


if __name__ == "__main__":
    main()
