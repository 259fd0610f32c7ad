"""Read back what ffmpeg wrote: fragmented-MP4 (CMAF) init and media segments, bytes in, values out.

Manifests must describe the media as written, not as requested: codec strings from the
decoder configuration records, durations from sample tables, IDR-ness from sample flags.
PyAV could decode the same facts but not the byte offsets an I-frame playlist needs, and a
box walk over a few hundred bytes of moov/moof is cheaper than opening a demuxer per segment.

Covers the ISO/IEC 14496-12 boxes ffmpeg's mp4/hls muxers emit for one track per file:
moov/trak/{tkhd,mdia/{mdhd,hdlr,minf/stbl/stsd}}, moov/mvex/trex, and
[styp] moof/{mfhd,traf/{tfhd,tfdt,trun}} mdat. Any input that is not such a file (truncated, sizes
that overrun their parent, absurd sample counts, garbage) raises MalformedFmp4 and nothing else:
every read is checked against the end of its box, every loop advances and is bounded by the bytes
it reads, and the public functions map any error a check missed to MalformedFmp4 as a last resort
(tests/transcoder/test_fmp4_fuzz.py runs atheris over them).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from transcoder.package.boxes import (
    I32,
    U16,
    U32,
    U64,
    Box,
    boxes,
    child,
    full_box,
    malformed,
    read,
    read_bytes,
    reading,
    require,
)

# tfhd flags
_BASE_DATA_OFFSET = 0x000001
_SAMPLE_DESCRIPTION_INDEX = 0x000002
_DEFAULT_DURATION = 0x000008
_DEFAULT_SIZE = 0x000010
_DEFAULT_FLAGS = 0x000020
# trun flags
_DATA_OFFSET = 0x000001
_FIRST_SAMPLE_FLAGS = 0x000004
_SAMPLE_DURATION = 0x000100
_SAMPLE_SIZE = 0x000200
_SAMPLE_FLAGS = 0x000400
_SAMPLE_CTO = 0x000800
_PER_SAMPLE_FIELDS = (_SAMPLE_DURATION, _SAMPLE_SIZE, _SAMPLE_FLAGS, _SAMPLE_CTO)
# sample flags: sample_is_non_sync_sample
_NON_SYNC = 0x00010000

_VISUAL_ENTRY_HEADER = 78  # SampleEntry fields + VisualSampleEntry fields, after the box header
_AUDIO_ENTRY_HEADER = 28  # SampleEntry fields + AudioSampleEntry v0 fields, after the box header
_AVC_IDR_NAL = 5


@dataclass(frozen=True)
class InitInfo:
    track_id: int
    kind: str  # "video" | "audio" | the raw handler type otherwise
    timescale: int
    codecs: str  # RFC 6381, e.g. "avc1.64001f", "mp4a.40.2"
    width: int | None = None
    height: int | None = None
    sar: tuple[int, int] = (1, 1)
    channels: int | None = None
    sample_rate: int | None = None
    nal_length_size: int | None = None  # AVC only: bytes before each NAL unit in a sample
    default_sample_duration: int | None = None  # trex defaults, used when tfhd/trun omit them
    default_sample_size: int | None = None
    default_sample_flags: int | None = None


@dataclass(frozen=True)
class SegmentInfo:
    base_media_decode_time: int  # tfdt, in track timescale units
    sample_durations: tuple[int, ...]
    sample_sizes: tuple[int, ...]
    first_sample_is_sync: bool
    # (offset, length) from the start of the file: moof through the end of the first sample
    iframe_range: tuple[int, int]
    # True when the first sample holds an IDR NAL unit (AVC with nal_length_size known),
    # otherwise the sync-sample flag stands in for it.
    starts_with_idr: bool
    timescale: int

    @property
    def start(self) -> float:
        return self.base_media_decode_time / self.timescale

    @property
    def duration(self) -> float:
        return sum(self.sample_durations) / self.timescale


@reading
def parse_init(data: bytes) -> InitInfo:
    """Describe the single track of an init segment (ftyp + moov)."""
    moov = require(next((b for b in boxes(data) if b.type == "moov"), None), "moov")
    traks = [b for b in boxes(data, moov.payload, moov.end) if b.type == "trak"]
    if len(traks) != 1:
        raise malformed(f"expected one trak per init segment, found {len(traks)}")
    trak = traks[0]
    tkhd = require(child(data, trak, "tkhd"), "moov/trak/tkhd")
    version, _ = full_box(data, tkhd)
    track_id = read(U32, data, tkhd.payload + (20 if version == 1 else 12), tkhd.end)
    mdia = require(child(data, trak, "mdia"), "trak/mdia")
    mdhd = require(child(data, mdia, "mdhd"), "mdia/mdhd")
    version, _ = full_box(data, mdhd)
    timescale = read(U32, data, mdhd.payload + (20 if version == 1 else 12), mdhd.end)
    if timescale == 0:
        raise malformed("track timescale is 0")
    hdlr = require(child(data, mdia, "hdlr"), "mdia/hdlr")
    handler = read_bytes(data, hdlr.payload + 8, 4, hdlr.end).decode("latin-1")
    kind = {"vide": "video", "soun": "audio"}.get(handler, handler)
    minf = require(child(data, mdia, "minf"), "mdia/minf")
    stbl = require(child(data, minf, "stbl"), "minf/stbl")
    stsd = require(child(data, stbl, "stsd"), "stbl/stsd")
    entry = require(next(boxes(data, stsd.payload + 8, stsd.end), None), "stsd sample entry")
    fields: dict[str, object] = {"track_id": track_id, "kind": kind, "timescale": timescale}
    if kind == "video":
        fields.update(_visual_entry(data, entry))
    elif kind == "audio":
        fields.update(_audio_entry(data, entry))
    else:
        fields["codecs"] = entry.type
    fields.update(_trex(data, moov, track_id))
    return InitInfo(**fields)  # type: ignore[arg-type]


def _visual_entry(data: bytes, entry: Box) -> dict[str, object]:
    width = read(U16, data, entry.payload + 24, entry.end)
    height = read(U16, data, entry.payload + 26, entry.end)
    out: dict[str, object] = {"width": width, "height": height, "codecs": entry.type}
    children = {b.type: b for b in boxes(data, entry.payload + _VISUAL_ENTRY_HEADER, entry.end)}
    if "avcC" in children:
        avcc = children["avcC"]
        profile, compat, level, length_byte = read_bytes(data, avcc.payload + 1, 4, avcc.end)
        out["codecs"] = f"{entry.type}.{profile:02x}{compat:02x}{level:02x}"
        out["nal_length_size"] = (length_byte & 0x03) + 1
    elif "hvcC" in children:
        out["codecs"] = _hevc_codecs(entry.type, data[children["hvcC"].payload : children["hvcC"].end])
    elif "av1C" in children:
        out["codecs"] = av1_codecs(entry.type, data[children["av1C"].payload : children["av1C"].end])
    if "pasp" in children:
        pasp = children["pasp"]
        h_spacing, v_spacing = read(U32, data, pasp.payload, pasp.end), read(U32, data, pasp.payload + 4, pasp.end)
        if h_spacing and v_spacing:
            out["sar"] = (h_spacing, v_spacing)
    return out


def _hevc_codecs(fourcc: str, hvcc: bytes) -> str:
    """ISO/IEC 14496-15 annex E: hvc1.<space><profile>.<compat, bit-reversed>.<tier><level>.<constraints>."""
    if len(hvcc) < 13:
        raise malformed("hvcC shorter than its fixed fields")
    space = "ABC"[(hvcc[1] >> 6) - 1] if hvcc[1] >> 6 else ""
    tier = "H" if hvcc[1] & 0x20 else "L"
    profile = hvcc[1] & 0x1F
    compat = int(f"{int.from_bytes(hvcc[2:6], 'big'):032b}"[::-1], 2)
    constraints = list(hvcc[6:12])
    while constraints and constraints[-1] == 0:
        constraints.pop()
    suffix = "".join(f".{c:x}" for c in constraints)
    return f"{fourcc}.{space}{profile}.{compat:x}.{tier}{hvcc[12]}{suffix}"


def av1_codecs(fourcc: str, av1c: bytes) -> str:
    """AV1 in ISOBMFF 5.3.3 (codecs parameter): av01.<profile>.<level><tier>.<bit depth>, from the
    AV1CodecConfigurationRecord, which copies these fields from the stream's sequence header.

    The short form: players choose on profile, level, tier and depth; the optional colour fields
    would only repeat the BT.709 defaults the ladder encodes."""
    if len(av1c) < 4:
        raise malformed("av1C shorter than its fixed fields")
    if av1c[0] != 0x81:  # marker bit 1, version 1: the only record the spec defines
        raise malformed(f"av1C marker/version byte {av1c[0]:#04x}, expected 0x81")
    profile, level = av1c[1] >> 5, av1c[1] & 0x1F
    tier = "H" if av1c[2] & 0x80 else "M"
    high_bitdepth, twelve_bit = bool(av1c[2] & 0x40), bool(av1c[2] & 0x20)
    # AV1 spec 5.5.2 color_config: twelve_bit is only coded for the professional profile (2).
    depth = (12 if twelve_bit else 10) if profile == 2 and high_bitdepth else (10 if high_bitdepth else 8)
    return f"{fourcc}.{profile}.{level:02d}{tier}.{depth:02d}"


def _audio_entry(data: bytes, entry: Box) -> dict[str, object]:
    channels = read(U16, data, entry.payload + 16, entry.end)
    sample_rate = read(U32, data, entry.payload + 24, entry.end) >> 16
    out: dict[str, object] = {"channels": channels, "sample_rate": sample_rate, "codecs": entry.type}
    if entry.type == "mp4a":
        esds = child(data, entry, "esds", skip=_AUDIO_ENTRY_HEADER)
        if esds is not None:
            out["codecs"] = _mp4a_codecs(data[esds.payload + 4 : esds.end])
    elif entry.type == "Opus":
        out["codecs"] = "opus"  # RFC 6381 / the Opus-in-ISOBMFF spec use lower case
    return out


def _descriptors(data: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(tag, payload start, payload end) of MPEG-4 descriptors (ISO/IEC 14496-1 expandable sizes)."""
    while pos + 2 <= end:  # every step reads at least a tag and one size byte
        tag = data[pos]
        pos += 1
        size = 0
        for _ in range(4):
            if pos >= end:
                raise malformed("descriptor size runs past its esds")
            byte = data[pos]
            pos += 1
            size = (size << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        yield tag, pos, min(pos + size, end)
        pos += size


def _mp4a_codecs(esds: bytes) -> str:
    """mp4a.<objectTypeIndication hex>.<audioObjectType> (RFC 6381 section 3.3)."""
    for tag, pos, end in _descriptors(esds, 0, len(esds)):
        if tag != 0x03:  # ES_Descriptor
            continue
        flags = _byte(esds, pos + 2, end)
        pos += 3
        if flags & 0x80:  # streamDependenceFlag
            pos += 2
        if flags & 0x40:  # URL_Flag
            pos += 1 + _byte(esds, pos, end)
        if flags & 0x20:  # OCRstreamFlag
            pos += 2
        for inner_tag, inner, inner_end in _descriptors(esds, pos, end):
            if inner_tag != 0x04:  # DecoderConfigDescriptor
                continue
            object_type = _byte(esds, inner, inner_end)
            for dsi_tag, dsi, dsi_end in _descriptors(esds, inner + 13, inner_end):
                if dsi_tag == 0x05:  # DecoderSpecificInfo = AudioSpecificConfig
                    aot = _byte(esds, dsi, dsi_end) >> 3
                    if aot == 31:  # escape: 6 more bits follow
                        aot = 32 + (((esds[dsi] & 0x07) << 3) | (_byte(esds, dsi + 1, dsi_end) >> 5))
                    return f"mp4a.{object_type:02x}.{aot}"
            return f"mp4a.{object_type:02x}"
    raise malformed("esds without an ES_Descriptor")


def _byte(data: bytes, pos: int, end: int) -> int:
    if pos < 0 or pos >= min(end, len(data)):
        raise malformed(f"descriptor byte at {pos} lies past its end")
    return data[pos]


def _trex(data: bytes, moov: Box, track_id: int) -> dict[str, object]:
    mvex = child(data, moov, "mvex")
    if mvex is None:
        return {}
    for trex in boxes(data, mvex.payload, mvex.end):
        if trex.type != "trex":
            continue
        tid, duration, size, flags = (read(U32, data, trex.payload + at, trex.end) for at in (4, 12, 16, 20))
        if tid == track_id:
            return {
                "default_sample_duration": duration,
                "default_sample_size": size,
                "default_sample_flags": flags,
            }
    return {}


def parse_media_segment(data: bytes, init: InitInfo) -> SegmentInfo:
    """parse_segment with the track's timescale, trex defaults and NAL length size from its init."""
    return parse_segment(
        data,
        init.timescale,
        default_sample_duration=init.default_sample_duration,
        default_sample_size=init.default_sample_size,
        default_sample_flags=init.default_sample_flags,
        nal_length_size=init.nal_length_size,
    )


@reading
def parse_segment(
    data: bytes,
    timescale: int,
    *,
    default_sample_duration: int | None = None,
    default_sample_size: int | None = None,
    default_sample_flags: int | None = None,
    nal_length_size: int | None = None,
) -> SegmentInfo:
    """Timing, sizes and keyframe facts of one media segment ([styp] moof mdat ...).

    Sample fields fall back per ISO/IEC 14496-12: trun value, else the tfhd default, else
    the trex default passed in here. Every moof in the segment counts; the first one
    supplies tfdt and the I-frame byte range.
    """
    if timescale <= 0:
        raise malformed(f"track timescale is {timescale}")
    durations: list[int] = []
    sizes: list[int] = []
    decode_time: int | None = None
    first: tuple[int, int, int, int] | None = None  # (moof start, data offset, size, flags)
    for moof in (b for b in boxes(data) if b.type == "moof"):
        traf = require(child(data, moof, "traf"), "moof/traf")
        tfhd = require(child(data, traf, "tfhd"), "traf/tfhd")
        _, tf_flags = full_box(data, tfhd)
        fields = _Fields(data, tfhd.payload + 8, tfhd.end)  # after version/flags + track_ID
        # default-base-is-moof, and the spec's default for the first traf, unless overridden
        base = fields.u64() if tf_flags & _BASE_DATA_OFFSET else moof.start
        fields.skip(tf_flags & _SAMPLE_DESCRIPTION_INDEX)
        duration_default = fields.u32_or(tf_flags & _DEFAULT_DURATION, default_sample_duration)
        size_default = fields.u32_or(tf_flags & _DEFAULT_SIZE, default_sample_size)
        flags_default = fields.u32_or(tf_flags & _DEFAULT_FLAGS, default_sample_flags)
        tfdt = child(data, traf, "tfdt")
        if tfdt is not None and decode_time is None:
            version, _ = full_box(data, tfdt)
            decode_time = read(U64 if version == 1 else U32, data, tfdt.payload + 4, tfdt.end)
        for trun in (b for b in boxes(data, traf.payload, traf.end) if b.type == "trun"):
            _, tr_flags = full_box(data, trun)
            fields = _Fields(data, trun.payload + 4, trun.end)
            count = fields.u32()
            data_offset = fields.i32() if tr_flags & _DATA_OFFSET else None
            first_flags = fields.u32_or(tr_flags & _FIRST_SAMPLE_FLAGS, None)
            per_sample = 4 * sum(1 for bit in _PER_SAMPLE_FIELDS if tr_flags & bit)
            # Per-sample fields must fit in the trun; without any (all defaults), each sample still
            # needs at least one byte of the segment. Either bound keeps a forged count from looping
            # billions of times or filling memory.
            room = (trun.end - fields.pos) // per_sample if per_sample else len(data) - len(sizes)
            if count > room:
                raise malformed(f"trun announces {count} samples, room for {room}")
            for index in range(count):
                duration = fields.u32_or(tr_flags & _SAMPLE_DURATION, duration_default)
                size = fields.u32_or(tr_flags & _SAMPLE_SIZE, size_default)
                flags = fields.u32_or(tr_flags & _SAMPLE_FLAGS, flags_default)
                fields.skip(tr_flags & _SAMPLE_CTO)
                if index == 0 and first_flags is not None:
                    flags = first_flags
                if duration is None or size is None:
                    raise malformed("sample without duration or size (and no default)")
                if first is None:
                    offset = base + data_offset if data_offset is not None else _mdat_payload(data, moof)
                    first = (moof.start, offset, size, flags or 0)
                durations.append(duration)
                sizes.append(size)
    if first is None:
        raise malformed("media segment without samples")
    moof_start, sample_offset, sample_size, sample_flags = first
    if sample_offset < moof_start or sample_offset + sample_size > len(data):
        raise malformed("first sample lies past the end of the segment")
    is_sync = not sample_flags & _NON_SYNC
    idr = is_sync
    if nal_length_size:
        idr = _has_idr(data[sample_offset : sample_offset + sample_size], nal_length_size)
    return SegmentInfo(
        base_media_decode_time=decode_time or 0,
        sample_durations=tuple(durations),
        sample_sizes=tuple(sizes),
        first_sample_is_sync=is_sync,
        iframe_range=(moof_start, sample_offset + sample_size - moof_start),
        starts_with_idr=idr,
        timescale=timescale,
    )


class _Fields:
    """Sequential reader for the optional big-endian fields of tfhd and trun, within the box's end."""

    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data = data
        self.pos = pos
        self.end = end

    def _next(self, layout: struct.Struct) -> int:
        value = read(layout, self.data, self.pos, self.end)
        self.pos += layout.size
        return value

    def u32(self) -> int:
        return self._next(U32)

    def i32(self) -> int:
        return self._next(I32)

    def u64(self) -> int:
        return self._next(U64)

    def u32_or(self, present: int, fallback: int | None) -> int | None:
        return self.u32() if present else fallback

    def skip(self, present: int) -> None:
        if present:
            self.pos += 4


def _mdat_payload(data: bytes, moof: Box) -> int:
    mdat = next((b for b in boxes(data, moof.end) if b.type == "mdat"), None)
    return require(mdat, "mdat after moof").payload


def _has_idr(sample: bytes, length_size: int) -> bool:
    pos = 0
    while pos + length_size < len(sample):
        size = int.from_bytes(sample[pos : pos + length_size], "big")
        pos += length_size
        if sample[pos] & 0x1F == _AVC_IDR_NAL:
            return True
        pos += size
    return False
