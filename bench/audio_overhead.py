"""What the audio work (loudness measured before and after, two-pass loudnorm) adds to a ladder job.

    .venv/bin/python bench/audio_overhead.py [--seconds 60] [--size 1280x720] [--preset veryfast] [--repeat 1]

The source is a testsrc2 pattern with one stereo tone (transcode_setup.make_source), the common upload.
Figures, from the same run, order alternated:

  ladder     the anchor: `run_job` with the audio work switched off (this script replaces the pipeline's
             loudness steps by ones that do nothing, and loudnorm is off): the ladder, one AAC rendition
  audio      `run_job` as shipped: the source's loudness measured (one audio-only read), loudnorm in the
             encode, the published rendition's loudness measured
  ratio      audio / ladder, wall-clock and CPU (user + system of this process and its children: immune
             to other sessions' load). Target: <= 1.10.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transcode_setup import make_source, queue_asset  # noqa: E402

from catalog.models import Asset, AssetState, Job  # noqa: E402
from catalog.session import Catalog  # noqa: E402
from catalog.settings import CatalogSettings  # noqa: E402
from jobs.settings import BrokerSettings  # noqa: E402
from storage.filesystem import FilesystemObjectStore  # noqa: E402
from storage.settings import StorageSettings  # noqa: E402
from transcoder import pipeline  # noqa: E402
from transcoder.encode.ladder import Ladder  # noqa: E402
from transcoder.settings import TranscoderSettings  # noqa: E402


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(source: Path, work: Path, preset: str, *, audio_work: bool) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one job from queued to READY."""
    settings = TranscoderSettings(
        storage=StorageSettings(root=work / "objects"),
        catalog=CatalogSettings(url=f"sqlite:///{work / 'catalog.db'}"),
        broker=BrokerSettings(folder=work / "broker"),
        work_dir=work / "scratch",
        x264_preset=preset,
        loudnorm=audio_work,
    )
    store = FilesystemObjectStore(settings.storage.root)
    for bucket in ("staging", "media"):
        store.ensure_bucket(bucket)
    ctx = pipeline.PipelineContext(settings, store, Catalog(settings.catalog))
    store.put_file("staging", "originals/source.mp4", source)
    asset_id, job_id = queue_asset(ctx.catalog, "originals/source.mp4")
    saved = pipeline.measure_audio, pipeline._record_audio
    if not audio_work:

        def no_measure(_ctx: Any, _source: str, ladder: Ladder, _duration: float) -> tuple[dict[str, Any], Ladder]:
            return {}, ladder

        pipeline.measure_audio = no_measure  # type: ignore[assignment]
        pipeline._record_audio = lambda *args, **kwargs: None  # type: ignore[assignment]
    cpu, wall = _cpu_seconds(), time.monotonic()
    try:
        pipeline.run_job(ctx, job_id)
    finally:
        pipeline.measure_audio, pipeline._record_audio = saved  # type: ignore[assignment]
    wall, cpu = time.monotonic() - wall, _cpu_seconds() - cpu
    with ctx.catalog.session() as s:
        asset, job = s.get(Asset, asset_id), s.get(Job, job_id)
        if asset is None or asset.state != AssetState.READY:
            raise SystemExit(f"pipeline failed: {job.error if job else 'no job'}")
        if audio_work != bool(asset.audio_tracks):
            raise SystemExit("the audio work did not run as asked")
    ctx.catalog.dispose()
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vodstack-audio-bench-") as tmp:
        root = Path(tmp)
        source = make_source(
            root / "source.mp4", args.seconds, args.size, preset="ultrafast", crf=18, audio_bitrate="192k"
        )
        for n in range(args.repeat):
            order = [False, True] if n % 2 == 0 else [True, False]
            figures = {}
            for audio_work in order:
                figures[audio_work] = run(source, root / f"run{n}-{audio_work}", args.preset, audio_work=audio_work)
            (ladder_wall, ladder_cpu), (audio_wall, audio_cpu) = figures[False], figures[True]
            first = "ladder" if not order[0] else "audio"
            print(f"run {n + 1} ({first} first): ladder {ladder_wall:.1f} s wall {ladder_cpu:.1f} s CPU; "
                  f"audio {audio_wall:.1f} s wall {audio_cpu:.1f} s CPU")  # fmt: skip
            print(f"  ratio audio/ladder: wall {audio_wall / ladder_wall:.3f}, CPU {audio_cpu / ladder_cpu:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
