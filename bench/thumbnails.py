"""Thumbnails at any time: cold (made by the origin) and warm (an edge hit), each against an anchor
measured in the same run on the same files.

    .venv/bin/python bench/thumbnails.py [--seconds 24] [--size 1920x1080] [--times 20]

A 1080p30 test pattern goes through the real pipeline (x264 ultrafast, 4 s segments); the origin
(uvicorn, as in bench/serve.py) and one edge (`vodstack serve edge`, as deployed) serve it.

  cold        GET edge/{asset}/thumbnail.jpg?time=T&width=1920 for 20 distinct times, each a miss:
              the edge forwards it, the origin reads the catalog, the playlists, the 1080p init and
              segment, runs ffmpeg in the sandbox and answers (target: median < 0.5 s)
  bare        the anchor, alternated with cold: `ffmpeg -ss T -i <published 1080p segment, init
              prepended> -frames:v 1 out.jpg` for the same times (the segment alone is not
              decodable: its init is cat'ed on first, outside the timing)
  cold 640    the same at width=640 (another rung, other times: also misses)
  warm        the same thumbnail URLs again: edge hits
  segment hit the anchor of warm: an edge hit of a 1080p segment
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_vs_nginx import free_port, is_hit, uvicorn, vodstack_edge, wait_up  # noqa: E402
from transcode_setup import make_source, queue_asset  # noqa: E402

from catalog.models import Asset, AssetState  # noqa: E402
from catalog.session import Catalog  # noqa: E402
from catalog.settings import CatalogSettings  # noqa: E402
from images.params import Thumbnail  # noqa: E402
from images.plan import parse_media, video_rungs, window  # noqa: E402
from jobs.settings import BrokerSettings  # noqa: E402
from storage.filesystem import FilesystemObjectStore  # noqa: E402
from storage.settings import StorageSettings  # noqa: E402
from transcoder.pipeline import PipelineContext, run_job  # noqa: E402
from transcoder.settings import TranscoderSettings  # noqa: E402


def publish(work: Path, seconds: float, size: str) -> tuple[str, str]:
    """(asset id, its master key) of the source published by the pipeline."""
    settings = TranscoderSettings(
        storage=StorageSettings(root=work / "objects"),
        catalog=CatalogSettings(url=f"sqlite:///{work / 'catalog.db'}"),
        broker=BrokerSettings(folder=work / "broker"),
        work_dir=work / "scratch",
        segment_seconds=4.0,
        x264_preset="ultrafast",
    )
    store = FilesystemObjectStore(settings.storage.root)
    for bucket in ("staging", "media"):
        store.ensure_bucket(bucket)
    source = make_source(work / "source.mp4", seconds, size, preset="ultrafast", crf=23, audio_bitrate="128k")
    store.put_file("staging", "originals/source.mp4", source)
    catalog = Catalog(settings.catalog)
    asset_id, job_id = queue_asset(catalog, "originals/source.mp4")
    run_job(PipelineContext(settings, store, catalog), job_id)
    with catalog.session() as s:
        asset = s.get(Asset, asset_id)
        if asset is None or asset.state != AssetState.READY or asset.master_key is None:
            raise SystemExit("the pipeline did not publish the asset")
        master_key = asset.master_key
    catalog.dispose()
    return asset_id, master_key


def timed_get(client: httpx.Client, url: str) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.get(url)
    return time.perf_counter() - started, response.raise_for_status()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=24.0)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--times", type=int, default=20)
    args = parser.parse_args()
    width = int(args.size.split("x")[0])
    with tempfile.TemporaryDirectory(prefix="bench-thumbs-") as tmp_dir:
        tmp = Path(tmp_dir)
        started = time.perf_counter()
        load_before = os.getloadavg()[0]
        asset_id, master_key = publish(tmp, args.seconds, args.size)
        print(f"published {args.size} {args.seconds:g} s in {time.perf_counter() - started:.1f} s")
        objects = tmp / "objects" / "media"
        prefix = master_key.rpartition("/")[0] + "/"
        top = video_rungs((objects / master_key).read_text())[-1]
        rung_dir = (prefix + top.playlist_uri).rpartition("/")[0] + "/"
        media = parse_media((objects / rung_dir / "index.m3u8").read_text())
        step = Decimal(str(args.seconds)) / (args.times + 1)
        times = [(step * (i + 1)).quantize(Decimal("0.001")) for i in range(args.times)]

        # The anchor: a bare ffmpeg seek in the published segment covering each time.
        ffmpeg = __import__("imageio_ffmpeg").get_ffmpeg_exe()

        def bare_seconds(t: Decimal) -> float:
            win = window(Thumbnail("jpg", t, width), media, top.frame)
            joined = tmp / "joined.mp4"
            joined.write_bytes(
                b"".join((objects / rung_dir / name).read_bytes() for name in [media.init_uri, win.segments[0].uri])
            )
            argv = [ffmpeg, "-v", "error", "-y", "-ss", f"{win.offset}", "-i", str(joined), "-frames:v", "1"]
            began = time.perf_counter()
            subprocess.run([*argv, str(tmp / "bare.jpg")], check=True)
            return time.perf_counter() - began

        origin_port, edge_port = free_port(), free_port()
        procs = [
            uvicorn("serve:origin_app", origin_port, {
                "VODSTACK_ORIGIN_STORAGE__ROOT": str(tmp / "objects"),
                "VODSTACK_ORIGIN_CATALOG__URL": f"sqlite:///{tmp / 'catalog.db'}",
            }),
            vodstack_edge(edge_port, {
                "VODSTACK_EDGE_NAME": "bench-edge", "VODSTACK_EDGE_UPSTREAM_URL": f"http://127.0.0.1:{origin_port}",
                "VODSTACK_EDGE_DISK_DIR": str(tmp / "edge-cache"), "VODSTACK_DATA_DIR": str(tmp / "data"),
            }, None),
        ]  # fmt: skip
        try:
            edge = f"http://127.0.0.1:{edge_port}"
            wait_up(f"http://127.0.0.1:{origin_port}/healthz")
            wait_up(f"{edge}/healthz")
            with httpx.Client(timeout=60) as client:
                # One image first (not counted): imports, the catalog's first connection.
                timed_get(client, f"{edge}/{asset_id}/thumbnail.jpg?time=0.001&width=16")
                urls = [f"{edge}/{asset_id}/thumbnail.jpg?time={t}&width={width}" for t in times]
                cold, warm, bare = [], [], []
                for t, url in zip(times, urls, strict=True):
                    # Alternated with the anchor, so that load from others on the machine hits both alike.
                    bare.append(bare_seconds(t))
                    seconds, r = timed_get(client, url)
                    if is_hit("edge", r):
                        raise SystemExit(f"a cold request was a hit: {url}")
                    cold.append(seconds)
                small = []
                for t in times:
                    seconds, _ = timed_get(
                        client, f"{edge}/{asset_id}/thumbnail.jpg?time={t + Decimal('0.01')}&width=640"
                    )
                    small.append(seconds)
                for url in urls:
                    seconds, r = timed_get(client, url)
                    if not is_hit("edge", r):
                        raise SystemExit(f"a warm request was not a hit: {url}")
                    warm.append(seconds)
                segment = f"{edge}/{rung_dir}{media.segments[0].uri}"
                for _ in range(3):  # miss, store, hit
                    timed_get(client, segment)
                hits = []
                for _ in range(args.times):
                    seconds, r = timed_get(client, segment)
                    if not is_hit("edge", r):
                        raise SystemExit("the segment was not an edge hit")
                    hits.append(seconds)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(10)

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:8.1f} ms"

    print(f"load average before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f} (1 min)")
    print(f"cold thumbnail (width {width}), median of {len(cold)}: {ms(cold)}   max {max(cold) * 1000:.0f} ms")
    print(f"bare ffmpeg seek in the segment, median:        {ms(bare)}")
    print(f"cold / bare:                                    {statistics.median(cold) / statistics.median(bare):8.2f}")
    print(f"cold thumbnail (width 640), median:             {ms(small)}")
    print(f"warm thumbnail (edge hit), median:              {ms(warm)}")
    print(f"segment edge hit, median:                       {ms(hits)}")
    print(f"warm / segment hit:                             {statistics.median(warm) / statistics.median(hits):8.2f}")
    print(f"target cold < 500 ms: {'met' if statistics.median(cold) < 0.5 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
