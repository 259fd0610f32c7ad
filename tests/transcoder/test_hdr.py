"""HDR sources: the probe records PQ / HLG / BT.2020 / 10-bit, the SDR ladder is tone-mapped to BT.709
and tagged so everywhere; an SDR source's encode is unchanged."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from media.colour import ColourInfo, describe_colour
from media.probe import probe_source
from tests.media import ffmpeg_exe, play_every_stream
from tests.transcoder.harness import assert_succeeded, pipeline_context, published_prefix, submit
from transcoder.encode import commands
from transcoder.encode.colour import sdr_filters
from transcoder.encode.ladder import plan_ladder
from transcoder.encode.previews import plan_previews
from transcoder.pipeline import run_job

PQ = ColourInfo("bt2020", "smpte2084", "bt2020nc", "tv", 10)
HLG = ColourInfo("bt2020", "arib-std-b67", "bt2020nc", "tv", 10)
SDR = ColourInfo("bt709", "bt709", "bt709", "tv", 8)
# Written here independently of transcoder.encode.colour: the textbook zscale + tonemap recipe.
REFERENCE_TONEMAP = (
    "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,"
    "zscale=t=bt709:m=bt709:r=tv,format=yuv420p"
)


def test_describe_colour_from_libav_values() -> None:
    colour = describe_colour(
        primaries=9, transfer=16, matrix=9, colour_range=1, bit_depth=10,
        side_data=["MASTERING_DISPLAY_METADATA", "DYNAMIC_HDR_PLUS", "DOVI_METADATA"],
    )  # fmt: skip
    assert colour == ColourInfo("bt2020", "smpte2084", "bt2020nc", "tv", 10, True, True, True)
    assert colour.hdr == "pq" and colour.wide_gamut
    assert describe_colour(primaries=2, transfer=18, matrix=2, colour_range=0, bit_depth=10).hdr == "hlg"
    unknown = describe_colour(primaries=None, transfer=2, matrix=99, colour_range=None, bit_depth=8)
    assert unknown == ColourInfo() and unknown.hdr is None


def _argv(colour: ColourInfo | None) -> str:
    plan = commands.EncodePlan(
        "in.mp4", Path("/o"), plan_ladder(640, 360, 30, has_audio=True), 2.0, False, colour=colour
    )
    return " ".join(commands.encode_ladder(plan, "ffmpeg"))


def test_only_hdr_and_wide_gamut_sources_are_converted() -> None:
    assert "tonemap=desat=0:tonemap=hable" in _argv(PQ) and "transferin=smpte2084" in _argv(PQ)
    assert "transferin=arib-std-b67" in _argv(HLG)
    assert _argv(PQ).count("-color_trc bt709") == 2  # every rung tagged
    wide = _argv(ColourInfo("bt2020", "bt709", "bt2020nc", "tv", 10))
    assert "zscale" in wide and "tonemap" not in wide
    for sdr in (SDR, None, ColourInfo()):
        argv = _argv(sdr)
        assert "zscale" not in argv and "tonemap" not in argv and "-color_trc" not in argv
    assert _argv(SDR) == _argv(None)
    assert sdr_filters(SDR) == []


def test_poster_and_thumbnails_are_tone_mapped_too() -> None:
    previews = plan_previews(10.0, 640, 360)
    for colour, mapped in ((PQ, True), (SDR, False), (None, False)):
        poster = " ".join(commands.poster("in.mp4", Path("/o/poster.jpg"), 1.0, 640, "ffmpeg", colour))
        thumbs = " ".join(commands.finish_previews(previews, "in.mp4", Path("/o"), False, "ffmpeg", colour))
        assert ("tonemap=" in poster) is mapped and ("tonemap=" in thumbs) is mapped
        assert thumbs.count("tonemap=hable") == (len(previews.thumbnail_times) if mapped else 0)


def _make_pq(dest: Path, seconds: float) -> Path:
    """A PQ 10-bit HEVC source (HDR10 metadata) of the SDR test pattern, its white graded to 1000 nits
    (a bright phone HDR clip)."""
    subprocess.run(
        [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=30:duration={seconds}",
            "-vf", "zscale=tin=bt709:min=bt709:pin=bt709:rin=tv:t=smpte2084:m=bt2020nc:p=bt2020:r=tv:npl=1000,"
            "format=yuv420p10le",
            "-c:v", "libx265", "-preset", "ultrafast",
            "-x265-params", "log-level=error:hdr10=1:max-cll=1000,400:"
            "master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)",
            "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc", "-color_range", "tv",
            "-tag:v", "hvc1", str(dest),
        ],
        check=True,
    )  # fmt: skip
    return dest


def mean_luma(path: str, filters: str | None = None) -> float:
    """Mean of signalstats' YAVG over every frame (8-bit code values)."""
    chain = f"{filters}," if filters else ""
    proc = subprocess.run(
        [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", path, "-map", "0:v:0",
            "-vf", f"{chain}signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-", "-f", "null", "-",
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    values = [float(line.split("=", 1)[1]) for line in proc.stdout.splitlines() if "YAVG=" in line]
    assert values and not proc.stderr.strip(), proc.stderr
    return sum(values) / len(values)


def _colr(init: bytes) -> tuple[int, int, int, bool]:
    at = init.index(b"colrnclx")
    primaries, transfer, matrix = struct.unpack(">HHH", init[at + 8 : at + 14])
    return primaries, transfer, matrix, bool(init[at + 14] & 0x80)


@pytest.mark.ffmpeg
def test_pq_source_is_tone_mapped_to_bt709(tmp_path: Path) -> None:
    ctx = pipeline_context(tmp_path)
    source = _make_pq(tmp_path / "pq.mp4", seconds=2)
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)
    assert asset.probe is not None
    recorded = asset.probe["video"]["colour"]
    assert recorded["transfer"] == "smpte2084" and recorded["primaries"] == "bt2020"
    assert recorded["bit_depth"] == 10 and recorded["mastering_metadata"] is True

    reference = mean_luma(str(source), REFERENCE_TONEMAP)
    untouched = mean_luma(str(source), "format=yuv420p")  # PQ code values read as if SDR
    assert abs(reference - untouched) > 8, (reference, untouched)  # so the check below can tell them apart
    media = ctx.settings.storage.root / "media" / published_prefix(ctx, asset_id)
    for rendition in (r.name for r in asset.renditions if r.kind == "video"):
        folder = media / rendition
        assert _colr((folder / "init.mp4").read_bytes()) == (1, 1, 1, False)  # BT.709, limited range
        playlist = str(folder / "index.m3u8")
        played = play_every_stream(playlist)
        assert [p.kind for p in played] == ["video"] and played[0].lasts(2.0, 0.1)
        info = probe_source(_joined(folder, tmp_path))
        assert info.video.colour == ColourInfo("bt709", "bt709", "bt709", "tv", 8)
        luma = mean_luma(playlist)
        print(f"{rendition}: mean luma {luma:.2f}, tone-mapped reference {reference:.2f}, untouched {untouched:.2f}")
        assert abs(luma - reference) <= 3.0, (rendition, luma, reference, untouched)


def _joined(folder: Path, tmp_path: Path) -> str:
    """init + segments of a rendition as one file, for the in-process probe."""
    dest = tmp_path / f"{folder.name}-joined.mp4"
    dest.write_bytes(b"".join(p.read_bytes() for p in [folder / "init.mp4", *sorted(folder.glob("seg_*.m4s"))]))
    return str(dest)
