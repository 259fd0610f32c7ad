"""Joining chunk encodes into one CMAF track: bytes in, bytes out; no I/O.

Each chunk is encoded on its own, so its fragments start at decode time 0 and sequence number 1.
Shifting every fragment's tfdt by the chunk's start (in track timescale units) and its mfhd
sequence number by the fragments before it gives exactly the timeline one ffmpeg run over the
whole source writes (the init segments of a chunk and of a whole-source run are byte-identical
for the same x264 parameters), so the usual read-back, manifests and validation apply unchanged.

ffmpeg's `-output_ts_offset` would be the library way to shift a chunk, but its HLS muxer rebases
fMP4 fragments to zero regardless (and writes a different init), so the shift is done here.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from transcoder.encode.commands import INIT_NAME, SEGMENT_PATTERN
from transcoder.errors import EncodeFailed

# The box walk of our own fMP4 reader: the same parser that reads the joined output back.
from transcoder.package.boxes import boxes, child, full_box


def decode_time_shift(chunk_start: float, timescale: int) -> int:
    """A chunk's start in track timescale units.

    Rounded: at a frame rate that does not divide the chunk length (29.97 fps) the join sits within
    one tick of the chunk's nominal start, so no error accumulates from chunk to chunk.
    """
    return round(chunk_start * timescale)


def retime_fragment(data: bytes, *, decode_time_shift: int, sequence_shift: int) -> bytes:
    """One media segment ([styp] moof mdat ...) with tfdt and mfhd sequence numbers shifted."""
    out = bytearray(data)
    for moof in (b for b in boxes(data) if b.type == "moof"):
        mfhd = child(data, moof, "mfhd")
        if mfhd is None:
            raise EncodeFailed("fMP4: moof without mfhd", reason="malformed_fmp4")
        sequence = struct.unpack_from(">I", data, mfhd.payload + 4)[0] + sequence_shift
        struct.pack_into(">I", out, mfhd.payload + 4, sequence)
        for traf in (b for b in boxes(data, moof.payload, moof.end) if b.type == "traf"):
            tfdt = child(data, traf, "tfdt")
            if tfdt is None:
                raise EncodeFailed("fMP4: traf without tfdt, cannot place the chunk", reason="malformed_fmp4")
            version, _ = full_box(data, tfdt)
            layout = ">Q" if version == 1 else ">I"
            value = struct.unpack_from(layout, data, tfdt.payload + 4)[0] + decode_time_shift
            if version == 0 and value >= 2**32:
                raise EncodeFailed("fMP4: shifted decode time overflows a version-0 tfdt", reason="malformed_fmp4")
            struct.pack_into(layout, out, tfdt.payload + 4, value)
    return bytes(out)


def check_same_init(rendition: str, inits: Sequence[bytes]) -> bytes:
    """The one init segment of a joined rendition; every chunk must have written the same bytes.

    Byte equality is stricter than comparing decoder configurations, and it holds for x264 with
    the same parameters; anything else (a different SPS/PPS, sample entry or edit list) would make
    the joined track undecodable or mistimed after the first chunk.
    """
    if not inits:
        raise EncodeFailed(f"no chunks to join for {rendition}")
    first = inits[0]
    for index, init in enumerate(inits[1:], start=1):
        if init != first:
            raise EncodeFailed(
                f"chunk {index} of {rendition} has a different init segment (codec configuration) than chunk 0",
                reason="stitch_mismatch",
            )
    return first


def segment_name(number: int) -> str:
    """seg_00001.m4s...: the names a single ffmpeg run writes."""
    return SEGMENT_PATTERN % number


def fragment_count(data: bytes) -> int:
    """How many fragments (moof boxes) a media segment holds: its share of mfhd sequence numbers."""
    return sum(1 for b in boxes(data) if b.type == "moof")


def listing_playlist(segment_names: Sequence[str], segment_seconds: float) -> str:
    """A minimal VOD media playlist naming the joined segments in order.

    Only the list is read back (transcoder.package.outputs); durations declared to players are measured
    from the fragments, so the nominal EXTINF here never reaches them.
    """
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{math.ceil(segment_seconds)}",
        f'#EXT-X-MAP:URI="{INIT_NAME}"',
    ]
    for name in segment_names:
        lines += [f"#EXTINF:{segment_seconds:.3f},", name]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
