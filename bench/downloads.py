"""MP4 downloads: what remuxing them costs against the ladder job that makes the streams, same run.

    .venv/bin/python bench/downloads.py [--seconds 60] [--size 1280x720] [--preset veryfast] [--repeat 1]

The same source goes through `run_job` twice, with downloads off (the anchor: the ladder-only job)
and on (the highest and the lowest rung as MP4, the audio as M4A, remuxed from the verified
segments: transcoder.package.downloads). Figures:

  ladder     wall seconds of the job without downloads (probe, encode, previews, read-back, publish)
  with       the same job with downloads
  remux      the wall seconds build_downloads itself took in the second job (timed around it)
  ratio      remux / ladder (issue 14: MP4 work adds no more than 10% to a ladder job)
  bytes      download bytes / bytes of the segments they were made from
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transcode_setup import make_source, staged_job  # noqa: E402

from catalog.models import Asset  # noqa: E402
from transcoder import pipeline  # noqa: E402
from transcoder.pipeline import run_job  # noqa: E402

REMUX_SECONDS: list[float] = []


def _timed_build_downloads(*args: Any, **kwargs: Any) -> Any:
    started = time.perf_counter()
    try:
        return BUILD(*args, **kwargs)
    finally:
        REMUX_SECONDS.append(time.perf_counter() - started)


BUILD = pipeline.build_downloads
pipeline.build_downloads = _timed_build_downloads  # type: ignore[assignment]


def run(source: Path, work: Path, preset: str, downloads: bool) -> tuple[float, dict[str, object]]:
    ctx, asset_id, job_id = staged_job(source, work, x264_preset=preset, mp4_downloads=downloads)
    started = time.perf_counter()
    run_job(ctx, job_id)
    elapsed = time.perf_counter() - started
    with ctx.catalog.session() as s:
        asset = s.get(Asset, asset_id)
        assert asset is not None and asset.state == "ready", asset and asset.error
        made = list(asset.downloads or [])
        rung_of = {r.height: r.name for r in asset.renditions if r.kind == "video"}
    media = ctx.settings.storage.root / "media"
    segment_bytes = 0
    for entry in made:
        parts = [rung_of[entry["height"]], "audio"] if entry["kind"] == "video" else ["audio"]
        prefix = media / str(entry["key"]).rsplit("/downloads/", 1)[0]
        segment_bytes += sum(f.stat().st_size for p in parts for f in (prefix / p).glob("*.m4s"))
        segment_bytes += sum((prefix / p / "init.mp4").stat().st_size for p in parts)
    download_bytes = sum(int(str(d["size"])) for d in made)
    ctx.catalog.dispose()
    return elapsed, {"files": len(made), "bytes": download_bytes / segment_bytes if segment_bytes else 0.0}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-downloads-") as tmp:
        root = Path(tmp)
        source = make_source(
            root / "source.mp4", args.seconds, args.size, preset="veryfast", crf=20, audio_bitrate="192k"
        )
        ladder, withs, ratios = [], [], []
        info: dict[str, object] = {}
        for i in range(args.repeat):
            off, _ = run(source, root / f"off-{i}", args.preset, downloads=False)
            on, info = run(source, root / f"on-{i}", args.preset, downloads=True)
            ladder.append(off)
            withs.append(on)
            ratios.append(REMUX_SECONDS[-1] / off)
        print(f"source      {args.seconds:.0f} s {args.size}, preset {args.preset}, {args.repeat} run(s)")
        print(f"ladder      {statistics.median(ladder):.2f} s (job without downloads: the anchor)")
        print(f"with        {statistics.median(withs):.2f} s (the same job with {info['files']} downloads)")
        print(f"remux       {statistics.median(REMUX_SECONDS):.2f} s (build_downloads alone)")
        print(f"ratio       {statistics.median(ratios):.3f} (remux / ladder; target <= 0.10)")
        print(f"bytes       {float(str(info['bytes'])):.4f} (download bytes / segment bytes they hold)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
