"""Content-aware ladder against the fixed (Apple) ladder, same sources, same run.

    .venv/bin/python bench/ladder.py [--clips easy,hard,trailer] [--bbb PATH] [--seconds 40]
        [--preset veryfast] [--vmaf-subsample 4] [--keep DIR] [--ladders fixed,content_aware]
        [--source-preset medium]

With --keep, each (source, ladder) result is saved in DIR as <source>-<ladder>.json and reused by the
next run with the same DIR (delete it to measure again): the fixed ladder, which does not depend on the
content-aware code, can run first (--ladders fixed) while that code is still changing.

Sources (made here, or taken from a package that ships them):
  easy     a static slide: SMPTE HD bars with a slowly moving box (1080p30): little to encode
  hard     the test pattern under moving film grain (720p30): detail that costs bits
  trailer  the 55 s Big Buck Bunny trailer (720p24, H.264 at 1.0 Mbit/s) inside moviepy 2.1.2's source
           distribution (`pip download --no-deps --no-binary :all: moviepy==2.1.2`, then
           docs/_static/medias/getting_started/moviepy_10_minutes/trailer_bbb.mp4); pass its path with --trailer
  bbb      the 10-minute Big Buck Bunny (1280x720, in moviepy_10_minutes.zip of the same distribution):
           --bbb PATH (long: the run takes tens of minutes on 2 cores)

For each source, the real job (`run_job` over a filesystem store and SQLite) runs twice: with
VODSTACK_TRANSCODER_LADDER=fixed (the anchor) and =content_aware. Printed per rung: the variant's
AVERAGE-BANDWIDTH (its video and the 128 kbit/s audio it carries: what a player pays), its video alone
(the rendition's video packets over the source's duration) and its VMAF against the source at display size (the
published rendition decoded whole, upscaled bicubic to the display size; libvmaf `n_subsample`
frames, the same for both ladders); per source: BD-rate of the content-aware ladder against the
fixed one (piecewise-linear in log(rate) over the VMAF range both cover; negative = fewer bits for
the same quality), the highest rung's video against the source's video (the same measure: packets over
the duration; the audio is re-encoded at 128 kbit/s whatever the source's spends), and the CPU seconds of each
job (this process's children: ffmpeg, the probe), whose ratio a loaded machine does not skew the way
it skews wall time.
Targets (issue 17): BD-rate <= -20 % over the set, no rung's video above the source's, CPU ratio <= 1.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transcode_setup import queue_asset  # noqa: E402

from catalog.models import Asset  # noqa: E402
from catalog.session import Catalog  # noqa: E402
from catalog.settings import CatalogSettings  # noqa: E402
from jobs.settings import BrokerSettings  # noqa: E402
from storage.filesystem import FilesystemObjectStore  # noqa: E402
from storage.settings import StorageSettings  # noqa: E402
from transcoder.pipeline import PipelineContext, run_job  # noqa: E402
from transcoder.settings import TranscoderSettings  # noqa: E402


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def make_easy(dest: Path, seconds: float, preset: str = "medium") -> Path:
    box = "drawbox=x='mod(t*40,1700)':y=800:w=120:h=120:color=white:t=fill"
    graph = f"smptehdbars=size=1920x1080:rate=30:duration={seconds},{box}"
    return _encode(dest, graph, seconds, preset)


def make_hard(dest: Path, seconds: float, preset: str = "medium") -> Path:
    return _encode(dest, f"testsrc2=size=1280x720:rate=30:duration={seconds},noise=alls=18:allf=t", seconds, preset)


def _encode(dest: Path, graph: str, seconds: float, preset: str) -> Path:
    if not dest.exists():
        subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", graph,
             "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
             "-c:v", "libx264", "-preset", preset, "-crf", "16", "-pix_fmt", "yuv420p", "-c:a", "aac", str(dest)],
            check=True,
        )  # fmt: skip
    return dest


@dataclass(frozen=True)
class RungResult:
    name: str
    height: int
    bitrate: int  # AVERAGE-BANDWIDTH of the variant: its video and the audio it carries
    vmaf: float
    video_bitrate: int = 0  # the rendition's video packets over the source's duration (0: not measured)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(source: Path, work: Path, ladder: str, preset: str, **overrides: object) -> tuple[Path, str, float]:
    """Run the real job on `source` with the given ladder (and other TranscoderSettings `overrides`):
    (media root, asset prefix, CPU seconds)."""
    settings = TranscoderSettings(
        storage=StorageSettings(root=work / "objects"),
        catalog=CatalogSettings(url=f"sqlite:///{work / 'catalog.db'}"),
        broker=BrokerSettings(folder=work / "broker"),
        work_dir=work / "work",
        x264_preset=preset,
        ladder=ladder,  # type: ignore[arg-type]
        **overrides,  # type: ignore[arg-type]
    )
    store = FilesystemObjectStore(settings.storage.root)
    for bucket in ("staging", "media"):
        store.ensure_bucket(bucket)
    ctx = PipelineContext(settings, store, Catalog(settings.catalog))
    store.put_file("staging", f"originals/{source.name}", source)
    asset_id, job_id = queue_asset(ctx.catalog, f"originals/{source.name}")
    before = children_cpu()
    run_job(ctx, job_id)
    cpu = children_cpu() - before
    with ctx.catalog.session() as s:
        asset = s.get(Asset, asset_id)
        if asset is None or asset.master_key is None:
            raise SystemExit(f"{ladder}: the job did not publish ({asset.error if asset else 'no asset'})")
        prefix = asset.master_key.rsplit("/", 1)[0]
    return settings.storage.root / "media", prefix, cpu


def video_bitrate(path: Path, duration: float) -> int:
    """Bits/s of the video packets of `path` (a file or an HLS playlist) over `duration`: what the video
    alone spends, without the audio or the container, the same measure for a source and a rendition."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        total = sum(packet.size for packet in container.demux(stream))
    return round(total * 8 / duration)


def rung_results(
    media: Path, prefix: str, source: Path, size: tuple[int, int], subsample: int, duration: float
) -> list[RungResult]:
    master = (media / prefix / "master.m3u8").read_text()
    results = []
    for line in master.splitlines():
        if not line.startswith("#EXT-X-STREAM-INF"):
            continue
        attrs = dict(part.split("=", 1) for part in _split_attrs(line.split(":", 1)[1]))
        name = attrs.get("RESOLUTION", "?")
        uri = master.splitlines()[master.splitlines().index(line) + 1]
        playlist = media / prefix / uri
        average = int(attrs.get("AVERAGE-BANDWIDTH", attrs["BANDWIDTH"]))
        height = int(name.split("x")[1]) if "x" in name else 0
        score = vmaf(playlist, source, size, subsample)
        results.append(RungResult(uri.split("/")[0], height, average, score, video_bitrate(playlist, duration)))
    return sorted(results, key=lambda r: r.bitrate)


def _split_attrs(text: str) -> list[str]:
    out, current, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append(current)
            current = ""
        else:
            current += ch
    return [*out, current] if current else out


def vmaf(playlist: Path, source: Path, size: tuple[int, int], subsample: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "vmaf.json"
        w, h = size
        graph = (
            f"[0:v]scale={w}:{h}:flags=bicubic,format=yuv420p,setpts=N/FR/TB[d];"
            f"[1:v]scale={w}:{h}:flags=bicubic,format=yuv420p,setpts=N/FR/TB[r];"
            f"[d][r]libvmaf=log_path={log}:log_fmt=json:n_subsample={subsample}:n_threads=2"
        )
        subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(playlist), "-i", str(source),
             "-lavfi", graph, "-f", "null", "-"],
            check=True,
        )  # fmt: skip
        return float(json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"])


def bd_rate(anchor: list[RungResult], test: list[RungResult]) -> float | None:
    """Average bit rate difference of `test` against `anchor` at equal VMAF, in percent: both
    rate-quality curves piecewise-linear in log(rate), averaged over the VMAF range both cover."""

    def curve(points: list[RungResult]) -> list[tuple[float, float]]:
        kept: list[tuple[float, float]] = []
        for p in sorted(points, key=lambda r: r.vmaf):
            if not kept or p.vmaf > kept[-1][0]:
                kept.append((p.vmaf, math.log(p.bitrate)))
        return kept

    def log_rate(c: list[tuple[float, float]], q: float) -> float:
        for (q0, r0), (q1, r1) in zip(c, c[1:], strict=False):
            if q0 <= q <= q1:
                return r0 + (r1 - r0) * (q - q0) / (q1 - q0)
        return c[0][1] if q <= c[0][0] else c[-1][1]

    a, t = curve(anchor), curve(test)
    low, high = max(a[0][0], t[0][0]), min(a[-1][0], t[-1][0])
    if high - low < 0.5:
        return None
    steps = 200
    diff = sum(
        log_rate(t, low + (high - low) * i / steps) - log_rate(a, low + (high - low) * i / steps)
        for i in range(steps + 1)
    ) / (steps + 1)
    return (math.exp(diff) - 1) * 100


def probe_size(source: Path) -> tuple[int, int, float]:
    import av

    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        duration = float(container.duration or 0) / 1_000_000
        return stream.codec_context.width, stream.codec_context.height, duration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", default="easy,hard")
    parser.add_argument("--trailer", type=Path, default=None)
    parser.add_argument("--bbb", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--vmaf-subsample", type=int, default=4)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--ladders", default="fixed,content_aware")
    # x264 preset of the generated sources (CRF 16): medium took over 20 min for the grainy one on a loaded machine.
    parser.add_argument("--source-preset", default="medium")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-ladder-"))
    root.mkdir(parents=True, exist_ok=True)
    sources: dict[str, Path] = {}
    for name in args.clips.split(","):
        if name == "easy":
            sources[name] = make_easy(root / "easy.mp4", args.seconds, args.source_preset)
        elif name == "hard":
            sources[name] = make_hard(root / "hard.mp4", args.seconds, args.source_preset)
    if args.trailer:
        sources["trailer"] = args.trailer
    if args.bbb:
        sources["bbb"] = args.bbb

    rates: list[float] = []
    cpu_fixed = cpu_fitted = 0.0
    for name, source in sources.items():
        width, height, duration = probe_size(source)
        source_bits = source.stat().st_size * 8 / duration
        # "No rung above the source": video against video. Every variant's audio is re-encoded at 128 kbit/s
        # whatever the source's audio spends, so a whole variant against the whole file says nothing.
        source_video = video_bitrate(source, duration)
        results = {}
        cpu = {}
        for ladder in args.ladders.split(","):
            saved = root / f"{name}-{ladder}.json"
            if args.keep and saved.exists():
                doc = json.loads(saved.read_text())
                cpu[ladder], results[ladder] = doc["cpu"], [RungResult(**r) for r in doc["rungs"]]
                continue
            media, prefix, seconds = run(source, root / f"{name}-{ladder}", ladder, args.preset)
            cpu[ladder] = seconds
            results[ladder] = rung_results(media, prefix, source, (width, height), args.vmaf_subsample, duration)
            if args.keep:
                saved.write_text(json.dumps({"cpu": seconds, "rungs": [asdict(r) for r in results[ladder]]}))
        if set(results) != {"fixed", "content_aware"}:
            print(f"{name}: {', '.join(f'{k} CPU {v:.1f} s' for k, v in cpu.items())} (saved)")
            continue
        cpu_fixed += cpu["fixed"]
        cpu_fitted += cpu["content_aware"]
        print(
            f"\n{name}: {width}x{height}, {duration:.1f} s, source {source_bits / 1e6:.2f} Mbit/s"
            f" (video {source_video / 1e6:.3f})"
        )
        for ladder, rungs in results.items():
            print(f"  {ladder:14s} CPU {cpu[ladder]:7.1f} s   rungs {len(rungs)}")
            for r in rungs:
                flag = "  ABOVE SOURCE" if r.video_bitrate > source_video else ""
                print(
                    f"    {r.name:14s} {r.height:5d}p {r.bitrate / 1e3:9.0f} kbit/s"
                    f" (video {r.video_bitrate / 1e3:7.0f})  VMAF {r.vmaf:6.2f}{flag}"
                )
        bd = bd_rate(results["fixed"], results["content_aware"])
        top = max(r.video_bitrate for r in results["content_aware"])
        print(
            f"  BD-rate content-aware vs fixed: {'n/a (no common VMAF range)' if bd is None else f'{bd:+.1f} %'}"
            f"   top rung / source (video): {top / max(source_video, 1):.2f}"
            f"   CPU ratio: {cpu['content_aware'] / cpu['fixed']:.2f}"
        )
        if bd is not None:
            rates.append(bd)
    if rates:
        print(f"\nmean BD-rate over {len(rates)} sources: {sum(rates) / len(rates):+.1f} % (target <= -20 %)")
    print(f"CPU seconds, all sources: fixed {cpu_fixed:.1f}, content-aware {cpu_fitted:.1f}, "
          f"ratio {cpu_fitted / max(cpu_fixed, 1e-9):.2f} (target <= 1)")  # fmt: skip


if __name__ == "__main__":
    main()
