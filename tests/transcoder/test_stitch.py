"""Joining chunk fragments: decode times and sequence numbers shifted in place, init segments compared."""

from __future__ import annotations

import struct

import pytest

from transcoder.errors import EncodeFailed
from transcoder.package.fmp4 import parse_segment
from transcoder.split.stitch import (
    check_same_init,
    decode_time_shift,
    fragment_count,
    listing_playlist,
    retime_fragment,
    segment_name,
)

TIMESCALE = 15360


def box(kind: str, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind.encode()) + payload


def fragment(sequence: int, decode_time: int, durations: list[int], *, tfdt_version: int = 1) -> bytes:
    """[styp] moof(mfhd, traf(tfhd, tfdt, trun)) mdat, as ffmpeg's fMP4 muxer lays them out."""
    sizes = [10] * len(durations)
    mfhd = box("mfhd", struct.pack(">II", 0, sequence))
    tfhd = box("tfhd", struct.pack(">II", 0x020000, 1))  # default-base-is-moof, track 1
    time_field = struct.pack(">Q", decode_time) if tfdt_version == 1 else struct.pack(">I", decode_time)
    tfdt = box("tfdt", struct.pack(">I", tfdt_version << 24) + time_field)

    def moof_with(offset: int) -> bytes:
        samples = b"".join(struct.pack(">II", d, s) for d, s in zip(durations, sizes, strict=True))
        trun = box("trun", struct.pack(">IIi", 0x000301, len(durations), offset) + samples)
        return box("moof", mfhd + box("traf", tfhd + tfdt + trun))

    moof = moof_with(0)
    moof = moof_with(len(moof) + 8)  # data offset: from the moof start to the mdat payload
    return box("styp", b"msdh\0\0\0\0msdh") + moof + box("mdat", b"\0" * sum(sizes))


def sequence_of(data: bytes) -> int:
    at = data.index(b"mfhd")
    return int(struct.unpack_from(">I", data, at + 8)[0])


def test_retime_shifts_decode_time_and_sequence_only() -> None:
    original = fragment(2, 30720, [512] * 60)
    shift = decode_time_shift(10.0, TIMESCALE)
    assert shift == 153600
    retimed = retime_fragment(original, decode_time_shift=shift, sequence_shift=5)
    assert len(retimed) == len(original)
    before, after = parse_segment(original, TIMESCALE), parse_segment(retimed, TIMESCALE)
    assert after.base_media_decode_time == 30720 + 153600
    assert after.start == pytest.approx(12.0)
    assert sequence_of(retimed) == 7
    # Samples, sizes and the I-frame byte range are untouched.
    assert (after.sample_durations, after.sample_sizes, after.iframe_range) == (
        before.sample_durations,
        before.sample_sizes,
        before.iframe_range,
    )


def test_retime_version0_tfdt_and_overflow() -> None:
    small = fragment(1, 0, [1024], tfdt_version=0)
    assert parse_segment(retime_fragment(small, decode_time_shift=48000, sequence_shift=0), 48000).start == 1.0
    with pytest.raises(EncodeFailed):
        retime_fragment(small, decode_time_shift=2**32, sequence_shift=0)


def test_decode_time_shift_rounds_to_the_nearest_tick() -> None:
    # 29.97 fps in a 30000 timescale: the join sits within a tick of the nominal start.
    assert decode_time_shift(8.0, 30000) == 240000
    assert decode_time_shift(1 / 3, 48000) == 16000


def test_fragment_count_counts_moofs() -> None:
    one = fragment(1, 0, [512, 512])
    assert fragment_count(one) == 1
    assert fragment_count(one + fragment(2, 1024, [512])[20:]) == 2  # a second moof+mdat appended


def test_init_segments_must_match() -> None:
    assert check_same_init("360p", [b"init", b"init", b"init"]) == b"init"
    with pytest.raises(EncodeFailed, match="chunk 2 of 360p"):
        check_same_init("360p", [b"init", b"init", b"other"])
    with pytest.raises(EncodeFailed):
        check_same_init("360p", [])


def test_listing_playlist_names_segments_in_order() -> None:
    names = [segment_name(n) for n in (1, 2, 3)]
    assert names == ["seg_00001.m4s", "seg_00002.m4s", "seg_00003.m4s"]
    text = listing_playlist(names, 2.0)
    assert text.splitlines()[-3:] == ["#EXTINF:2.000,", "seg_00003.m4s", "#EXT-X-ENDLIST"]
    assert [line for line in text.splitlines() if line.startswith("seg_")] == names
    assert '#EXT-X-MAP:URI="init.mp4"' in text and text.rstrip().endswith("#EXT-X-ENDLIST")
