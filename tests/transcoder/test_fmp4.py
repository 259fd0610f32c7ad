from __future__ import annotations

import io
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import av
import imageio_ffmpeg
import m3u8
import pytest

from transcoder.errors import MalformedFmp4
from transcoder.package.fmp4 import _mp4a_codecs, parse_init, parse_media_segment, parse_segment


def box(kind: str, *children: bytes) -> bytes:
    payload = b"".join(children)
    return struct.pack(">I4s", 8 + len(payload), kind.encode()) + payload


def full(version: int, flags: int) -> bytes:
    return struct.pack(">I", (version << 24) | flags)


def fragment(
    tfhd_flags: int, tfhd_fields: bytes, trun_flags: int, samples: list[bytes], first_flags: int | None
) -> bytes:
    """moof + mdat with one traf; data_offset points at the mdat payload."""
    trun_body = struct.pack(">I", len(samples))
    fields = b"".join(samples)
    tfdt = box("tfdt", full(1, 0), struct.pack(">Q", 90_000))
    tfhd = box("tfhd", full(0, tfhd_flags | 0x020000), struct.pack(">I", 1), tfhd_fields)

    def moof(data_offset: int) -> bytes:
        trun = box(
            "trun",
            full(0, trun_flags | 0x1 | (0x4 if first_flags is not None else 0)),
            trun_body,
            struct.pack(">i", data_offset),
            struct.pack(">I", first_flags) if first_flags is not None else b"",
            fields,
        )
        return box("moof", box("mfhd", full(0, 0), struct.pack(">I", 1)), box("traf", tfhd, tfdt, trun))

    size = len(moof(0))
    sample_bytes = b"\x00\x00\x00\x02\x65\x88" + b"\x00" * 94  # one 100-byte AVC IDR-looking sample
    return moof(size + 8) + box("mdat", sample_bytes)


NON_SYNC = 0x00010000 | (1 << 24)  # depends on others, not a sync sample


@pytest.mark.parametrize(
    ("tfhd_flags", "tfhd_fields", "trun_flags", "samples", "first_flags", "trex", "expected"),
    [
        # per-sample duration and size in trun; first_sample_flags says sync
        (0, b"", 0x300, [struct.pack(">II", 3000, 100)], 0x02000000, {}, ((3000,), (100,), True)),
        # durations from the tfhd default, sizes per sample, first sample non-sync
        (
            0x08,
            struct.pack(">I", 1500),
            0x200,
            [struct.pack(">I", 100)],
            NON_SYNC,
            {},
            ((1500,), (100,), False),
        ),
        # nothing in tfhd or trun: trex defaults from the init segment (what ffmpeg relies on)
        (
            0,
            b"",
            0,
            [b""],
            None,
            {"default_sample_duration": 1024, "default_sample_size": 100, "default_sample_flags": NON_SYNC},
            ((1024,), (100,), False),
        ),
        # tfhd defaults win over trex defaults
        (
            0x38,
            struct.pack(">III", 512, 100, 0),
            0,
            [b""],
            None,
            {"default_sample_duration": 1024, "default_sample_size": 7, "default_sample_flags": NON_SYNC},
            ((512,), (100,), True),
        ),
    ],
)
def test_sample_fields_fall_back_trun_tfhd_trex(
    tfhd_flags: int,
    tfhd_fields: bytes,
    trun_flags: int,
    samples: list[bytes],
    first_flags: int | None,
    trex: dict[str, int],
    expected: tuple[tuple[int, ...], tuple[int, ...], bool],
) -> None:
    data = box("styp", b"msdh\x00\x00\x00\x00") + fragment(tfhd_flags, tfhd_fields, trun_flags, samples, first_flags)
    info = parse_segment(data, 90_000, **trex)
    assert (info.sample_durations, info.sample_sizes, info.first_sample_is_sync) == expected
    assert info.base_media_decode_time == 90_000
    assert info.start == 1.0
    moof_at = data.index(b"moof") - 4
    assert info.iframe_range == (moof_at, len(data) - moof_at)  # moof through the one 100-byte sample


def test_idr_nal_detected_when_nal_length_size_known() -> None:
    data = fragment(0, b"", 0x300, [struct.pack(">II", 3000, 100)], NON_SYNC)
    assert parse_segment(data, 90_000, nal_length_size=4).starts_with_idr  # NAL type 5 inside
    assert not parse_segment(data, 90_000).starts_with_idr  # flags alone say non-sync


@pytest.mark.parametrize(
    ("asc", "expected"),
    [
        (bytes([0x12, 0x10]), "mp4a.40.2"),  # AAC-LC
        (bytes([0x2B, 0x92]), "mp4a.40.5"),  # HE-AAC (SBR)
        (bytes([0xF8, 0x40]), "mp4a.40.34"),  # escape: 31 + 6 bits (32 + 2)
    ],
)
def test_mp4a_codec_string(asc: bytes, expected: str) -> None:
    dsi = bytes([0x05, len(asc)]) + asc
    dcd = bytes([0x04, 13 + len(dsi), 0x40, 0x15]) + b"\x00" * 11 + dsi
    es = bytes([0x03, 3 + len(dcd)]) + b"\x00\x01\x00" + dcd
    assert _mp4a_codecs(es) == expected


@pytest.mark.parametrize(
    "data",
    [
        box("moov")[:-1] + b"\xff\xff\xff\xff",  # box larger than the buffer
        box("ftyp", b"isom"),  # no moov
        box("moov", box("trak"), box("trak")),  # two tracks in one init
    ],
)
def test_malformed_init_raises(data: bytes) -> None:
    with pytest.raises(MalformedFmp4):
        parse_init(data)


def _defaults_only_fragment() -> bytearray:
    """One sample whose duration and size come from tfhd defaults: a trun with no per-sample fields."""
    return bytearray(fragment(0x18, struct.pack(">II", 3000, 100), 0, [b""], None))


def _with_trun_count(count: int) -> bytes:
    data = _defaults_only_fragment()
    at = data.index(b"trun") + 8  # after the box type and version/flags
    data[at : at + 4] = struct.pack(">I", count)
    return bytes(data)


def _with_data_offset(offset: int) -> bytes:
    data = _defaults_only_fragment()
    at = data.index(b"trun") + 12  # after sample_count
    data[at : at + 4] = struct.pack(">i", offset)
    return bytes(data)


def _init(mdhd_timescale: int = 90_000, tkhd_body: bytes | None = None) -> bytes:
    tkhd = box("tkhd", full(0, 3), tkhd_body if tkhd_body is not None else struct.pack(">III", 0, 0, 1) + b"\0" * 68)
    mdhd = box("mdhd", full(0, 0), struct.pack(">IIII", 0, 0, mdhd_timescale, 0), b"\0" * 4)
    hdlr = box("hdlr", full(0, 0), b"\0\0\0\0soun", b"\0" * 13)
    entry = box("mp4a", b"\0" * 16, struct.pack(">HH", 2, 16), b"\0" * 4, struct.pack(">I", 48000 << 16))
    stsd = box("stsd", full(0, 0), struct.pack(">I", 1), entry)
    minf = box("minf", box("stbl", stsd))
    return box("ftyp", b"iso6") + box("moov", box("trak", tkhd, box("mdia", mdhd, hdlr, minf)))


def test_hand_made_init_parses() -> None:
    # the forged cases below differ from this one in a single field
    info = parse_init(_init())
    assert (info.kind, info.timescale, info.channels, info.sample_rate, info.codecs) == (
        "audio",
        90_000,
        2,
        48000,
        "mp4a",
    )
    assert parse_segment(_defaults_only_fragment(), 90_000).sample_sizes == (100,)


@pytest.mark.parametrize(
    ("parse", "data", "message"),
    [
        # a forged sample count with every field defaulted: would loop 4 billion times
        (lambda d: parse_segment(d, 90_000), _with_trun_count(0xFFFFFFFF), "room for"),
        (lambda d: parse_segment(d, 90_000), _with_data_offset(-(1 << 31)), "past the end"),
        (lambda d: parse_segment(d, 90_000), _with_data_offset((1 << 31) - 1), "past the end"),
        (lambda d: parse_segment(d, 0), _defaults_only_fragment(), "timescale"),
        # 64-bit box size of 2^63, and a 64-bit header cut short
        (parse_init, struct.pack(">I4sQ", 1, b"moov", 1 << 63), "overruns"),
        (parse_init, struct.pack(">I4s", 1, b"moov") + b"\0\0", "past the end"),
        (parse_init, _init(mdhd_timescale=0), "timescale is 0"),
        (parse_init, _init(tkhd_body=b""), "past the end"),  # tkhd without its fields
        (parse_init, box("moov", box("trak", box("tkhd", b"\x00"))), "past the end"),  # FullBox header cut
    ],
    ids=[
        "trun-count-2^32",
        "data-offset-negative",
        "data-offset-huge",
        "segment-timescale-0",
        "box-size-2^63",
        "box-64bit-header-cut",
        "init-timescale-0",
        "tkhd-empty",
        "fullbox-header-cut",
    ],
)
def test_forged_fields_raise_malformed(parse: Callable[[bytes], object], data: bytes, message: str) -> None:
    with pytest.raises(MalformedFmp4, match=message):
        parse(bytes(data))


def test_segment_without_samples_raises() -> None:
    with pytest.raises(MalformedFmp4, match="without samples"):
        parse_segment(box("styp", b"msdh"), 90_000)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of 320x180 H.264 and AAC as separate fMP4 renditions, cut every 2 s, as the ladder does."""
    out = tmp_path_factory.mktemp("fmp4")
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error",
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
            "-f", "lavfi", "-i", "sine=sample_rate=48000",
            "-t", "8", "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-profile:v", "high", "-preset", "veryfast",
            "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
            "-c:a", "aac", "-ac", "2",
            "-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "2", "-hls_playlist_type", "vod",
            "-hls_fmp4_init_filename", "init.mp4", "-start_number", "1",
            "-hls_segment_filename", str(out / "%v/seg_%05d.m4s"),
            "-master_pl_name", "master.m3u8", "-var_stream_map", "v:0,name:video a:0,name:audio",
            str(out / "%v/index.m3u8"),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    return out


@pytest.mark.ffmpeg
def test_init_segments_match_ffmpeg(encoded: Path) -> None:
    master = m3u8.load(str(encoded / "master.m3u8"))
    ffmpeg_codecs = {p.uri.split("/")[0]: p.stream_info.codecs for p in master.playlists}
    video = parse_init(_init_bytes(encoded, "video"))
    audio = parse_init(_init_bytes(encoded, "audio"))
    assert (video.kind, video.codecs, video.width, video.height, video.sar) == (
        "video",
        ffmpeg_codecs["video"],
        320,
        180,
        (1, 1),
    )
    assert video.codecs.startswith("avc1.64")  # High profile
    assert video.nal_length_size == 4
    assert (audio.kind, audio.codecs, audio.channels, audio.sample_rate, audio.timescale) == (
        "audio",
        "mp4a.40.2",
        2,
        48000,
        48000,
    )
    assert ffmpeg_codecs["audio"] == "mp4a.40.2"


@pytest.mark.ffmpeg
@pytest.mark.parametrize("rendition", ["video", "audio"])
def test_media_segments_are_contiguous_and_match_ffmpeg(encoded: Path, rendition: str) -> None:
    init_bytes = _init_bytes(encoded, rendition)
    init = parse_init(init_bytes)
    playlist = m3u8.load(str(encoded / rendition / "index.m3u8"))
    expected_end = 0.0
    for entry in playlist.segments:
        data = (encoded / rendition / entry.uri).read_bytes()
        info = parse_media_segment(data, init)
        assert info.start == pytest.approx(expected_end, abs=1e-9)
        assert info.duration == pytest.approx(entry.duration, abs=1e-6)
        assert info.first_sample_is_sync and info.starts_with_idr
        offset, length = info.iframe_range
        assert 0 <= offset < offset + length <= len(data)
        # the range really ends with the first sample: a demuxer sees the same keyframe bytes
        with av.open(io.BytesIO(init_bytes + data)) as container:
            packet = next(p for p in container.demux() if p.size)
        assert packet.is_keyframe and packet.size == info.sample_sizes[0]
        assert data[offset + length - packet.size : offset + length] == bytes(packet)
        expected_end = info.start + info.duration
    assert expected_end == pytest.approx(8.0, abs=0.05)


def _init_bytes(encoded: Path, rendition: str) -> bytes:
    # with -var_stream_map ffmpeg suffixes the init name per stream (init_0.mp4): ask the playlist
    playlist = m3u8.load(str(encoded / rendition / "index.m3u8"))
    return (encoded / rendition / playlist.segment_map[0].uri).read_bytes()


def _first_segment(encoded: Path, rendition: str) -> bytes:
    playlist = m3u8.load(str(encoded / rendition / "index.m3u8"))
    return (encoded / rendition / playlist.segments[0].uri).read_bytes()


@pytest.mark.ffmpeg
@pytest.mark.parametrize("rendition", ["video", "audio"])
def test_every_truncation_of_real_segments_is_malformed(encoded: Path, rendition: str) -> None:
    init_bytes = _init_bytes(encoded, rendition)
    init = parse_init(init_bytes)
    for cut in range(len(init_bytes)):
        with pytest.raises(MalformedFmp4):
            parse_init(init_bytes[:cut])
    segment = _first_segment(encoded, rendition)
    parse_media_segment(segment, init)
    # Every cut through the box headers (moof and the mdat header), then a sample of cuts in the media data.
    header_end = segment.index(b"mdat") + 4
    for cut in [*range(header_end + 64), *range(header_end + 64, len(segment), 53)]:
        with pytest.raises(MalformedFmp4):
            parse_media_segment(segment[:cut], init)


@pytest.mark.ffmpeg
@pytest.mark.parametrize("rendition", ["video", "audio"])
def test_overwritten_header_bytes_parse_or_raise_malformed(encoded: Path, rendition: str) -> None:
    """Each byte of the init and of the moof set to 0x00, 0x7f, 0x80 and 0xff in turn: a value or MalformedFmp4."""
    init_bytes = _init_bytes(encoded, rendition)
    init = parse_init(init_bytes)
    segment = _first_segment(encoded, rendition)
    parses: list[tuple[bytes, Callable[[bytes], object]]] = [
        (init_bytes, parse_init),
        (segment[: segment.index(b"mdat") + 4], lambda d: parse_media_segment(d + segment[len(d) :], init)),
    ]
    for original, parse in parses:
        for at in range(len(original)):
            for value in (0x00, 0x7F, 0x80, 0xFF):
                data = bytearray(original)
                data[at] = value
                try:
                    parse(bytes(data))
                except MalformedFmp4:
                    pass
