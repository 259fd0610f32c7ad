"""Split-and-stitch: the speedup of two worker processes over one, against the one-run pipeline.

    /work/venv/bin/python bench/split_stitch.py [--seconds 60] [--size 1920x1080] [--preset veryfast]
        [--chunk-seconds 12] [--segment-seconds 4] [--pinned]

Each scenario gets a fresh data directory (filesystem store, SQLite catalog, filesystem broker) and
real `vodstack worker` processes (concurrency 1); the clock runs from queueing the job to the asset
being READY (every rung, manifests, poster and previews published). The anchor, measured in the same
run, is the usual pipeline: one worker, split-and-stitch off, one ffmpeg run for the whole ladder.

  whole/1   one worker, split off (anchor)
  split/1   one worker, split on: the overhead of chunking (seeks, process starts, the join)
  split/2   two workers, split on: the figure the issue asks for

--pinned also runs whole/1 and split/2 with every worker restricted to one core (taskset), which is
what split-and-stitch is for: workers on separate machines, each with cores of its own.

--ffmpeg-cpu first runs the bare ffmpeg commands, no workers: the one-run ladder against every part
of the split plan one after the other, and prints the CPU seconds of each (the cost of chunking:
seeks that decode from the previous keyframe, a second decode for the previews, encoder start-ups).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import imageio_ffmpeg  # noqa: E402
from transcode_setup import make_source, queue_asset  # noqa: E402

from catalog.models import Asset, AssetState, Job  # noqa: E402
from catalog.session import Catalog  # noqa: E402
from catalog.settings import CatalogSettings  # noqa: E402
from jobs.celery_app import enqueue_transcode, make_celery  # noqa: E402
from jobs.settings import BrokerSettings  # noqa: E402
from storage.filesystem import FilesystemObjectStore  # noqa: E402


@dataclass(frozen=True)
class Scenario:
    name: str
    workers: int
    split: bool
    cores: Sequence[str | None]  # taskset core list per worker; None: unpinned


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    seconds: float
    parts_by_worker: dict[str, int]
    cpu_seconds: float = 0.0  # user + system of the workers and their ffmpeg runs, start-up included


# (label, slower scenario, faster scenario): speedup = slower wall time / faster wall time
RATIOS = (
    ("split/2 speedup over whole/1 (one worker, one ffmpeg run):", "whole/1", "split/2"),
    ("split/2 speedup over split/1 (one worker, split on):", "split/1", "split/2"),
    ("split/1 overhead over whole/1 (>1: slower):", "split/1", "whole/1"),
    ("one core per worker: split/2 speedup over whole/1:", "whole/1 pinned", "split/2 pinned"),
)


def run_scenario(scenario: Scenario, source: Path, args: argparse.Namespace, base: Path) -> Result:
    data = base / scenario.name.replace("/", "-")
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "VODSTACK_DATA_DIR": str(data),
        "VODSTACK_TRANSCODER_SEGMENT_SECONDS": str(args.segment_seconds),
        "VODSTACK_TRANSCODER_X264_PRESET": args.preset,
        "VODSTACK_TRANSCODER_SPLIT_ENABLED": "true" if scenario.split else "false",
        "VODSTACK_TRANSCODER_SPLIT_MIN_DURATION_SECONDS": "0",
        "VODSTACK_TRANSCODER_CHUNK_SECONDS": str(args.chunk_seconds),
    }
    catalog = Catalog(CatalogSettings(url=f"sqlite:///{data / 'catalog.db'}"))
    store = FilesystemObjectStore(data / "objects")
    for bucket in ("staging", "media"):
        store.ensure_bucket(bucket)
    store.put_file("staging", "originals/source.mp4", source)
    procs, logs = [], []
    cpu_before = _children_cpu()
    for i, cores in enumerate(scenario.cores, start=1):
        log = data / f"worker-{i}.log"
        argv = [sys.executable, "-m", "vodstack", "worker", "--name", f"worker-{i}", "--concurrency", "1"]
        if cores is not None:
            argv = ["taskset", "-c", cores, *argv]
        with log.open("wb") as out:
            procs.append(subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT))
        logs.append(log)
    try:
        while not all("ready." in log.read_text(errors="replace") for log in logs):
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker exited:\n" + "\n".join(log.read_text()[-2000:] for log in logs))
            time.sleep(0.2)
        asset_id, job_id = queue_asset(catalog, "originals/source.mp4")
        started = time.monotonic()
        enqueue_transcode(make_celery(BrokerSettings(folder=data / "broker")), job_id)
        while True:
            with catalog.session() as s:
                row = s.get(Asset, asset_id)
                state, error = (row.state, row.error) if row is not None else (None, "asset gone")
            if state == AssetState.READY:
                break
            if state == AssetState.FAILED or state is None:
                raise RuntimeError(f"{scenario.name}: asset failed: {error}")
            time.sleep(0.1)
        seconds = time.monotonic() - started
        with catalog.session() as s:
            parts = s.query(Job).filter(Job.parent_id == job_id).all()
            by_worker: dict[str, int] = {}
            for part in parts:
                key = (part.worker or "?").split("@")[0]
                by_worker[key] = by_worker.get(key, 0) + 1
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        catalog.dispose()
    # Reaped workers (and the pool processes and ffmpeg runs they reaped) count in RUSAGE_CHILDREN:
    # CPU time is the figure that survives a machine shared with other work.
    return Result(scenario, seconds, by_worker, _children_cpu() - cpu_before)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ffmpeg_cpu(source: Path, args: argparse.Namespace, base: Path) -> tuple[float, float]:
    """(CPU seconds of the one-run ladder, CPU seconds of all split parts), bare ffmpeg, one at a time."""
    from media.probe import ProbeLimits, probe_source
    from transcoder.encode import commands
    from transcoder.encode.ladder import plan_ladder
    from transcoder.encode.previews import THUMBNAIL_DIR, plan_previews
    from transcoder.split import chunks

    info = probe_source(source, ProbeLimits(7680, 4320, 6 * 3600, 240))
    width, height = info.picture().display_size
    ladder = plan_ladder(width, height, info.picture().frame_rate, has_audio=info.audio is not None)
    previews = plan_previews(info.duration, width, height)
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()

    def cpu_of(plan: commands.EncodePlan) -> float:
        for name in [*(r.name for r in plan.ladder.rungs), commands.AUDIO_NAME, THUMBNAIL_DIR]:
            (plan.out_dir / name).mkdir(parents=True, exist_ok=True)
        before = _children_cpu()
        subprocess.run(commands.encode_ladder(plan, ffmpeg), check=True, stdout=subprocess.DEVNULL)
        return _children_cpu() - before

    whole = cpu_of(
        commands.EncodePlan(
            str(source), base / "ffmpeg-whole", ladder, args.segment_seconds, False, args.preset, previews
        )
    )
    parts = 0.0
    for spec in chunks.plan_parts(
        ladder,
        duration=info.duration,
        display_size=(width, height),
        chunk_seconds=args.chunk_seconds,
        segment_seconds=args.segment_seconds,
        interlaced=False,
        preset=args.preset,
    ):
        chunk = spec.chunk
        plan = commands.EncodePlan(
            str(source),
            base / f"ffmpeg-{spec.name}",
            spec.encoded_ladder(),
            args.segment_seconds,
            False,
            args.preset,
            previews if chunk is None else None,
            start=chunk.start if chunk is not None else 0.0,
            duration=chunk.duration if chunk is not None else None,
        )
        parts += cpu_of(plan)
    return whole, parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--chunk-seconds", type=float, default=12.0)
    parser.add_argument("--segment-seconds", type=float, default=4.0)
    parser.add_argument("--pinned", action="store_true", help="also run with one core per worker")
    parser.add_argument("--only", help="comma-separated scenario names (e.g. 'whole/1 pinned,split/2 pinned')")
    parser.add_argument("--ffmpeg-cpu", action="store_true", help="first compare bare ffmpeg CPU: one run vs parts")
    parser.add_argument("--dir", default=None, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()

    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="vodstack-split-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    source = make_source(base / "source.mp4", args.seconds, args.size, preset="veryfast", crf=20, audio_bitrate="128k")
    scenarios = [
        Scenario("whole/1", 1, False, [None]),
        Scenario("split/1", 1, True, [None]),
        Scenario("split/2", 2, True, [None, None]),
        Scenario("whole/1 pinned", 1, False, ["0"]),
        Scenario("split/2 pinned", 2, True, ["0", "1"]),
    ]
    wanted = args.only.split(",") if args.only else [s.name for s in scenarios if args.pinned or "pinned" not in s.name]
    scenarios = [s for s in scenarios if s.name in wanted]
    print(
        f"source: {args.seconds:g} s {args.size} 30 fps, preset {args.preset}, "
        f"segments {args.segment_seconds:g} s, chunks {args.chunk_seconds:g} s, {os.cpu_count()} cores",
        flush=True,
    )
    if args.ffmpeg_cpu:
        whole, parts = ffmpeg_cpu(source, args, base)
        print(
            f"  bare ffmpeg: one run {whole:.1f} cpu-s, all parts {parts:.1f} cpu-s: {parts / whole:.2f}x", flush=True
        )
    results = {}
    for scenario in scenarios:
        result = run_scenario(scenario, source, args, base)
        results[scenario.name] = result
        by_worker = ", ".join(f"{k}: {v}" for k, v in sorted(result.parts_by_worker.items())) or "-"
        print(
            f"  {scenario.name:<16} {result.seconds:7.1f} s   {args.seconds / result.seconds:5.2f}x realtime"
            f"   {result.cpu_seconds:7.1f} cpu-s   parts by worker: {by_worker}",
            flush=True,
        )
    for label, slow, fast in RATIOS:
        if slow in results and fast in results:
            print(f"{label:<58} {results[slow].seconds / results[fast].seconds:.2f}x")
    if "whole/1" in results and "split/2" in results:
        cpu = results["split/2"].cpu_seconds / results["whole/1"].cpu_seconds
        print(f"{'CPU time, split/2 over whole/1:':<58} {cpu:.2f}x")
    if not args.dir:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
