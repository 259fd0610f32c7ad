"""The AV1 codecs string from av1C (hand-made records and real SVT-AV1 encodes), the AV1 rungs of a ladder,
their verification, and the codec family the asset API shows."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from ingest.assets import codec_family
from manifests.model import Segment, Track
from tests.media import ffmpeg_exe
from transcoder.encode.ladder import AV1_CRF, CODEC_AV1, add_av1_rungs, plan_ladder
from transcoder.encode.runner import run_ffmpeg
from transcoder.errors import MalformedFmp4
from transcoder.package.fmp4 import av1_codecs, parse_init
from transcoder.package.verify import check_outputs


def record(profile: int, level: int, *, tier: int = 0, high: int = 0, twelve: int = 0) -> bytes:
    """An AV1CodecConfigurationRecord's four fixed bytes (4:2:0, no presentation delay)."""
    return bytes([0x81, profile << 5 | level, tier << 7 | high << 6 | twelve << 5 | 0b1100, 0])


@pytest.mark.parametrize(
    ("av1c", "expected"),
    [
        (record(0, 0), "av01.0.00M.08"),
        (record(0, 8), "av01.0.08M.08"),  # 4.0: 1080p30
        (record(0, 13, tier=1, high=1), "av01.0.13H.10"),  # 5.1 high tier, 10-bit
        (record(1, 5), "av01.1.05M.08"),  # high profile (4:4:4)
        (record(2, 9, high=1, twelve=1), "av01.2.09M.12"),  # professional profile, 12-bit
        (record(2, 9, high=1), "av01.2.09M.10"),
        # twelve_bit is coded only for the professional profile: elsewhere it does not make 12-bit.
        (record(0, 4, high=1, twelve=1), "av01.0.04M.10"),
    ],
)
def test_codecs_from_av1c(av1c: bytes, expected: str) -> None:
    assert av1_codecs("av01", av1c) == expected


@pytest.mark.parametrize(
    ("av1c", "message"),
    [(b"\x81\x00", "shorter than its fixed fields"), (b"\x01\x00\x0c\x00", "marker/version byte 0x01")],
)
def test_malformed_av1c_raises(av1c: bytes, message: str) -> None:
    with pytest.raises(MalformedFmp4, match=message):
        av1_codecs("av01", av1c)


@pytest.mark.ffmpeg
@pytest.mark.parametrize(
    ("size", "pix_fmt", "expected"),
    [
        # SVT-AV1 picks the lowest level that fits: 2.0 (index 0) for 320x180, 3.1 (index 5) for 720p.
        ("320x180", "yuv420p", "av01.0.00M.08"),
        ("1280x720", "yuv420p", "av01.0.05M.08"),
        ("320x180", "yuv420p10le", "av01.0.00M.10"),
    ],
)
def test_codecs_of_real_svtav1_init_segments(tmp_path: Path, size: str, pix_fmt: str, expected: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error",
         "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=24:duration=0.25",
         "-c:v", "libsvtav1", "-preset", "13", "-pix_fmt", pix_fmt, "-f", "hls", "-hls_segment_type", "fmp4",
         "-hls_fmp4_init_filename", "init.mp4", str(out / "index.m3u8")],
        check=True, capture_output=True,
    )  # fmt: skip
    init = parse_init((out / "init.mp4").read_bytes())
    assert (init.kind, init.codecs) == ("video", expected)
    assert f"{init.width}x{init.height}" == size


def test_av1_rungs_sit_beside_every_h264_rung() -> None:
    ladder = add_av1_rungs(plan_ladder(640, 360, 30, has_audio=True), bitrate_factor=0.5)
    h264 = [r for r in ladder.rungs if r.codec == "h264"]
    av1 = [r for r in ladder.rungs if r.codec == CODEC_AV1]
    assert [r.name for r in ladder.rungs] == ["234p", "360p", "234p-av1", "360p-av1"]  # H.264 lowest stays first
    for plain, rung in zip(h264, av1, strict=True):
        assert (rung.width, rung.height, rung.frame_rate) == (plain.width, plain.height, plain.frame_rate)
        # Capped CRF on SVT-AV1's scale under the H.264 rungs' caps of its share of the bits.
        assert rung.bitrate == plain.bitrate // 2 and rung.crf == AV1_CRF
        assert (rung.maxrate, rung.bufsize) == (int(rung.bitrate * 1.1), int(rung.bitrate * 1.5))
    # A content-aware rung's VMAF was measured with x264: the AV1 rung beside it claims none.
    fitted = replace(ladder, rungs=tuple(replace(r, target_vmaf=93.0, sampled_vmaf=93.4) for r in h264))
    assert [(r.target_vmaf, r.sampled_vmaf) for r in add_av1_rungs(fitted).rungs[2:]] == [(None, None)] * 2
    # Applied twice, nothing doubles: AV1 rungs are made from the H.264 ones only.
    assert add_av1_rungs(ladder, bitrate_factor=0.5) == ladder


def test_one_av1_rung_a_size_beside_the_h264_rung_with_the_most_bits() -> None:
    """Capped CRF makes two AV1 rungs of one size the same bytes wherever neither cap binds: one a size."""
    ladder = add_av1_rungs(plan_ladder(1280, 720, 30, has_audio=True))
    h264 = [r.name for r in ladder.rungs if r.codec == "h264"]
    assert h264 == ["234p", "360p", "432p-730k", "432p-1100k", "540p", "720p-3000k", "720p-4500k"]
    av1 = {r.name: r.maxrate for r in ladder.rungs if r.codec == CODEC_AV1}
    assert list(av1) == ["234p-av1", "360p-av1", "432p-1100k-av1", "540p-av1", "720p-4500k-av1"]
    assert av1["720p-4500k-av1"] == int(int(4_500_000 * 0.65) * 1.1)


def track(name: str, codecs: str, width: int, height: int) -> Track:
    segments = tuple(Segment(f"seg_{i:05d}.m4s", 2.0, 1000, 2.0 * (i - 1)) for i in (1, 2))
    return Track(name, "video", codecs, "init.mp4", segments, 15360, width=width, height=height, frame_rate=30.0)


@pytest.mark.parametrize(
    ("codecs", "problem"),
    [
        ("av01.0.04M.08", None),
        ("av01.0.13M.08", None),  # the level is the encoder's choice
        ("av01.0.04M.10", "expected AV1 main profile, 8-bit, main tier"),
        ("av01.1.04M.08", "expected AV1 main profile, 8-bit, main tier"),
        ("av01.0.04H.08", "expected AV1 main profile, 8-bit, main tier"),
        ("avc1.64001e", "expected AV1 main profile, 8-bit, main tier"),
        ("av01", "expected AV1 main profile, 8-bit, main tier"),
    ],
)
def test_verification_checks_the_av1_rungs_codec(codecs: str, problem: str | None) -> None:
    ladder = add_av1_rungs(plan_ladder(640, 360, 30, has_audio=False))
    # The H.264 rungs as x264 writes them: high profile at the rung's level.
    videos = [
        track(r.name, f"avc1.6400{round(float(r.level) * 10):02x}" if r.codec == "h264" else codecs, r.width, r.height)
        for r in ladder.rungs
    ]
    problems = check_outputs(videos, [], ladder, duration=4.0, segment_seconds=2.0)
    assert problems == (
        []
        if problem is None
        else [f"234p-av1: codecs {codecs!r}, {problem}", f"360p-av1: codecs {codecs!r}, {problem}"]
    )


@pytest.mark.parametrize(
    ("codecs", "family"),
    [("avc1.64001f", "h264"), ("av01.0.04M.08", "av1"), ("hvc1.1.6.L93.b0", "hevc"), ("mp4a.40.2", None), (None, None)],
)
def test_codec_family_shown_in_the_api(codecs: str | None, family: str | None) -> None:
    assert codec_family(codecs) == family


@pytest.mark.ffmpeg
def test_svtav1_keeps_its_banner_out_of_the_stderr_a_failure_is_told_from(tmp_path: Path) -> None:
    stderr: list[str] = []
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=64x64:duration=0.2"]
    run_ffmpeg(
        [*argv, "-c:v", "libsvtav1", "-preset", "13", str(tmp_path / "out.mp4")], timeout=60, stderr_lines=stderr
    )
    assert stderr == []
