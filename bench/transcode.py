"""Transcode pipeline against one hand-written ffmpeg command producing the same ladder, same run.

    /work/venv/bin/python bench/transcode.py [--seconds 60] [--size 1920x1080] [--preset veryfast]
        [--segment-seconds 4] [--repeat 1]

The source is a 60 s 1080p30 test pattern (testsrc2) with a stereo tone. A test pattern encodes
faster than camera footage, which makes the pipeline's fixed costs (probe, poster, read-back,
publishing) weigh more in the ratio, not less. Figures, all from the same run:

  pipeline   `run_job` over a filesystem store and SQLite, from the job being queued (upload
             complete) to the asset READY: probe, the one ffmpeg run (9 rungs + audio + thumbnails +
             storyboard), poster, read-back, validation, publishing of every object and the catalog.
  bare       the anchor: one ffmpeg command written out by hand below (not built by transcoder.encode.commands)
             with the same ladder, x264 options, keyframe grid and HLS fMP4 muxing, into a directory.
  ratio      pipeline / bare (target <= 1.15)
  first      time to first playable (partial master published) / pipeline time (target <= 0.35)
  speed      media seconds per wall second of the pipeline and of the bare command
  CPU ratio  the same comparison in CPU seconds (this process + children): on a shared machine the
             wall-clock ratio carries other people's load, the CPU ratio does not
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transcode_setup import make_source, staged_job  # noqa: E402

from catalog.models import Asset, AssetState, Job  # noqa: E402
from transcoder import metrics  # noqa: E402
from transcoder.encode.ladder import plan_ladder  # noqa: E402
from transcoder.pipeline import run_job  # noqa: E402


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def bare_command(source: Path, out: Path, preset: str, segment: float, width: int, height: int) -> list[str]:
    """The anchor, by hand: one decode, split to every rung, each rung and the audio to HLS fMP4."""
    ladder = plan_ladder(width, height, 30, has_audio=True)
    n = len(ladder.rungs)
    gop = round(segment * ladder.frame_rate)
    labels = "".join(f"[v{i}]" for i in range(n))
    graph = f"[0:v]fps={ladder.frame_rate},split={n}{labels}"
    for i, rung in enumerate(ladder.rungs):
        graph += f";[v{i}]scale={rung.width}:{rung.height}:flags=bicubic,setsar=1[o{i}]"
    argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(source)]
    argv += ["-filter_complex", graph]
    hls = ["-f", "hls", "-hls_time", str(segment), "-hls_playlist_type", "vod", "-hls_list_size", "0"]
    hls += ["-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4", "-start_number", "1"]
    hls += ["-hls_flags", "independent_segments"]
    for i, rung in enumerate(ladder.rungs):
        (out / rung.name).mkdir(parents=True)
        argv += ["-map", f"[o{i}]", "-an", "-c:v", "libx264", "-preset", preset, "-profile:v", "high"]
        argv += ["-level:v", rung.level, "-pix_fmt", "yuv420p", "-b:v", str(rung.bitrate)]
        argv += ["-maxrate", str(rung.maxrate), "-bufsize", str(rung.bufsize), "-g", str(gop)]
        argv += ["-keyint_min", str(gop), "-sc_threshold", "0", "-x264-params", "open-gop=0"]
        argv += ["-force_key_frames", f"expr:gte(t,n_forced*{segment})"]
        argv += [*hls, "-hls_segment_filename", str(out / rung.name / "seg_%05d.m4s"), str(out / rung.name / "x.m3u8")]
    (out / "audio").mkdir(parents=True)
    argv += ["-map", "0:a", "-vn", "-c:a", "aac", "-profile:a", "aac_low", "-b:a", "128000", "-ac", "2"]
    argv += ["-ar", "48000", *hls, "-hls_segment_filename", str(out / "audio" / "seg_%05d.m4s")]
    argv += [str(out / "audio" / "x.m3u8")]
    return argv


def run_pipeline(source: Path, work: Path, preset: str, segment: float) -> tuple[float, float]:
    """(seconds from queued to READY, seconds from queued to first playable)."""
    ctx, asset_id, job_id = staged_job(source, work, segment_seconds=segment, x264_preset=preset)
    run_job(ctx, job_id)
    with ctx.catalog.session() as s:
        asset, job = s.get(Asset, asset_id), s.get(Job, job_id)
        if asset is None or job is None or asset.state != AssetState.READY:
            raise SystemExit(f"pipeline failed: {job.error if job else 'no job'}")
        assert asset.ready_at is not None and asset.first_playable_at is not None
        total = metrics.elapsed_seconds(job.created_at, asset.ready_at)
        first = metrics.elapsed_seconds(job.created_at, asset.first_playable_at)
    ctx.catalog.dispose()
    return total, first


def _cpu_seconds() -> float:
    """User + system CPU of this process and its finished children: immune to other load on the box."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--segment-seconds", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    root = Path(tempfile.mkdtemp(prefix="bench-transcode-"))
    try:
        source = make_source(
            root / "source.mp4", args.seconds, args.size, preset="ultrafast", crf=18, audio_bitrate="192k"
        )
        rows = []
        for i in range(args.repeat):
            # Alternate the order so that neither side always runs on a warm page cache.
            order = ("bare", "pipeline") if i % 2 == 0 else ("pipeline", "bare")
            timings: dict[str, float] = {}
            for side in order:
                work = root / f"{side}-{i}"
                work.mkdir()
                cpu_before = _cpu_seconds()
                if side == "bare":
                    argv = bare_command(source, work, args.preset, args.segment_seconds, width, height)
                    started = time.monotonic()
                    subprocess.run(argv, check=True)
                    timings["bare"] = time.monotonic() - started
                else:
                    timings["pipeline"], timings["first"] = run_pipeline(
                        source, work, args.preset, args.segment_seconds
                    )
                timings[f"{side}_cpu"] = _cpu_seconds() - cpu_before
                shutil.rmtree(work)
            rows.append(timings)
            print(
                f"run {i + 1}: bare {timings['bare']:.1f} s, pipeline {timings['pipeline']:.1f} s "
                f"(ratio {timings['pipeline'] / timings['bare']:.3f}), first playable {timings['first']:.1f} s "
                f"({timings['first'] / timings['pipeline']:.3f} of the pipeline); CPU bare "
                f"{timings['bare_cpu']:.1f} s, pipeline {timings['pipeline_cpu']:.1f} s "
                f"(ratio {timings['pipeline_cpu'] / timings['bare_cpu']:.3f})",
                flush=True,
            )
        # Medians of per-run figures: both sides of a ratio come from the same run (same load).
        ratio = statistics.median(r["pipeline"] / r["bare"] for r in rows)
        cpu = statistics.median(r["pipeline_cpu"] / r["bare_cpu"] for r in rows)
        first = statistics.median(r["first"] / r["pipeline"] for r in rows)
        bare = statistics.median(r["bare"] for r in rows)
        pipeline = statistics.median(r["pipeline"] for r in rows)
        print(f"source: {args.seconds:.0f} s {args.size}@30 + stereo AAC, preset {args.preset}, ", end="")
        print(f"segments {args.segment_seconds:g} s, medians of {args.repeat} run(s)")
        print(f"bare ffmpeg (anchor)      {bare:7.1f} s   {args.seconds / bare:5.2f}x realtime")
        print(f"pipeline (queued->READY)  {pipeline:7.1f} s   {args.seconds / pipeline:5.2f}x realtime")
        print(f"ratio pipeline/bare       {ratio:7.3f}     (target <= 1.15)")
        print(f"CPU ratio pipeline/bare   {cpu:7.3f}     (user+sys of this process and its children: load-proof)")
        print(f"time to first playable    {first:7.3f}     of the pipeline time (target <= 0.35)")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
