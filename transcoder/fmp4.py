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

import functools
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from transcoder.errors import MalformedFmp4

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

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_U64 = struct.Struct(">Q")
_HEADER = struct.Struct(">I4s")

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _reading(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Map what an unchecked read of garbage raises to MalformedFmp4 (the checks below should leave
    nothing for it; the fuzz test would find what they miss, and this keeps the contract meanwhile)."""

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return function(*args, **kwargs)
        except (struct.error, IndexError, ValueError, OverflowError, ZeroDivisionError) as exc:
            raise _malformed(f"unreadable ({type(exc).__name__}: {exc})") from exc

    return wrapper


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


@dataclass(frozen=True)
class _Box:
    type: str
    start: int  # offset of the box header in the buffer
    payload: int  # offset of the first payload byte
    end: int


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[_Box]:
    end = len(data) if end is None else min(end, len(data))
    pos = start
    while pos + 8 <= end:
        size, raw_type = _HEADER.unpack_from(data, pos)
        header = 8
        if size == 1:
            size = _read(_U64, data, pos + 8, end)
            header = 16
        elif size == 0:
            size = end - pos
        box_type = raw_type.decode("latin-1")
        if box_type == "uuid":
            header += 16
        if size < header or pos + size > end:
            raise _malformed(f"box {box_type!r} at {pos} overruns its parent")
        yield _Box(box_type, pos, pos + header, pos + size)
        pos += size  # size >= header >= 8: every step advances


def _read(layout: struct.Struct, data: bytes, pos: int, end: int) -> int:
    """The one unsigned or signed field of `layout` at `pos`, which must end by `end` (its box's end)."""
    if pos < 0 or pos + layout.size > min(end, len(data)):
        raise _malformed(f"field at {pos} lies past the end of its box")
    value: int = layout.unpack_from(data, pos)[0]
    return value


def _bytes(data: bytes, pos: int, length: int, end: int) -> bytes:
    if pos < 0 or pos + length > min(end, len(data)):
        raise _malformed(f"{length} bytes at {pos} lie past the end of their box")
    return data[pos : pos + length]


def _child(data: bytes, parent: _Box, box_type: str, skip: int = 0) -> _Box | None:
    return next((b for b in _boxes(data, parent.payload + skip, parent.end) if b.type == box_type), None)


def _malformed(message: str) -> MalformedFmp4:
    return MalformedFmp4(f"fMP4: {message}")


def _require(box: _Box | None, path: str) -> _Box:
    if box is None:
        raise _malformed(f"missing {path}")
    return box


def _full_box(data: bytes, box: _Box) -> tuple[int, int]:
    """(version, flags) of a FullBox."""
    word = _read(_U32, data, box.payload, box.end)
    return word >> 24, word & 0xFFFFFF


@_reading
def parse_init(data: bytes) -> InitInfo:
    """Describe the single track of an init segment (ftyp + moov)."""
    moov = _require(next((b for b in _boxes(data) if b.type == "moov"), None), "moov")
    traks = [b for b in _boxes(data, moov.payload, moov.end) if b.type == "trak"]
    if len(traks) != 1:
        raise _malformed(f"expected one trak per init segment, found {len(traks)}")
    trak = traks[0]
    tkhd = _require(_child(data, trak, "tkhd"), "moov/trak/tkhd")
    version, _ = _full_box(data, tkhd)
    track_id = _read(_U32, data, tkhd.payload + (20 if version == 1 else 12), tkhd.end)
    mdia = _require(_child(data, trak, "mdia"), "trak/mdia")
    mdhd = _require(_child(data, mdia, "mdhd"), "mdia/mdhd")
    version, _ = _full_box(data, mdhd)
    timescale = _read(_U32, data, mdhd.payload + (20 if version == 1 else 12), mdhd.end)
    if timescale == 0:
        raise _malformed("track timescale is 0")
    hdlr = _require(_child(data, mdia, "hdlr"), "mdia/hdlr")
    handler = _bytes(data, hdlr.payload + 8, 4, hdlr.end).decode("latin-1")
    kind = {"vide": "video", "soun": "audio"}.get(handler, handler)
    minf = _require(_child(data, mdia, "minf"), "mdia/minf")
    stbl = _require(_child(data, minf, "stbl"), "minf/stbl")
    stsd = _require(_child(data, stbl, "stsd"), "stbl/stsd")
    entry = _require(next(_boxes(data, stsd.payload + 8, stsd.end), None), "stsd sample entry")
    fields: dict[str, object] = {"track_id": track_id, "kind": kind, "timescale": timescale}
    if kind == "video":
        fields.update(_visual_entry(data, entry))
    elif kind == "audio":
        fields.update(_audio_entry(data, entry))
    else:
        fields["codecs"] = entry.type
    fields.update(_trex(data, moov, track_id))
    return InitInfo(**fields)  # type: ignore[arg-type]


def _visual_entry(data: bytes, entry: _Box) -> dict[str, object]:
    width = _read(_U16, data, entry.payload + 24, entry.end)
    height = _read(_U16, data, entry.payload + 26, entry.end)
    out: dict[str, object] = {"width": width, "height": height, "codecs": entry.type}
    children = {b.type: b for b in _boxes(data, entry.payload + _VISUAL_ENTRY_HEADER, entry.end)}
    if "avcC" in children:
        avcc = children["avcC"]
        profile, compat, level, length_byte = _bytes(data, avcc.payload + 1, 4, avcc.end)
        out["codecs"] = f"{entry.type}.{profile:02x}{compat:02x}{level:02x}"
        out["nal_length_size"] = (length_byte & 0x03) + 1
    elif "hvcC" in children:
        out["codecs"] = _hevc_codecs(entry.type, data[children["hvcC"].payload : children["hvcC"].end])
    if "pasp" in children:
        pasp = children["pasp"]
        h_spacing, v_spacing = _read(_U32, data, pasp.payload, pasp.end), _read(_U32, data, pasp.payload + 4, pasp.end)
        if h_spacing and v_spacing:
            out["sar"] = (h_spacing, v_spacing)
    return out


def _hevc_codecs(fourcc: str, hvcc: bytes) -> str:
    """ISO/IEC 14496-15 annex E: hvc1.<space><profile>.<compat, bit-reversed>.<tier><level>.<constraints>."""
    if len(hvcc) < 13:
        raise _malformed("hvcC shorter than its fixed fields")
    space = "ABC"[(hvcc[1] >> 6) - 1] if hvcc[1] >> 6 else ""
    tier = "H" if hvcc[1] & 0x20 else "L"
    profile = hvcc[1] & 0x1F
    compat = int(f"{int.from_bytes(hvcc[2:6], 'big'):032b}"[::-1], 2)
    constraints = list(hvcc[6:12])
    while constraints and constraints[-1] == 0:
        constraints.pop()
    suffix = "".join(f".{c:x}" for c in constraints)
    return f"{fourcc}.{space}{profile}.{compat:x}.{tier}{hvcc[12]}{suffix}"


def _audio_entry(data: bytes, entry: _Box) -> dict[str, object]:
    channels = _read(_U16, data, entry.payload + 16, entry.end)
    sample_rate = _read(_U32, data, entry.payload + 24, entry.end) >> 16
    out: dict[str, object] = {"channels": channels, "sample_rate": sample_rate, "codecs": entry.type}
    if entry.type == "mp4a":
        esds = _child(data, entry, "esds", skip=_AUDIO_ENTRY_HEADER)
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
                raise _malformed("descriptor size runs past its esds")
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
    raise _malformed("esds without an ES_Descriptor")


def _byte(data: bytes, pos: int, end: int) -> int:
    if pos < 0 or pos >= min(end, len(data)):
        raise _malformed(f"descriptor byte at {pos} lies past its end")
    return data[pos]


def _trex(data: bytes, moov: _Box, track_id: int) -> dict[str, object]:
    mvex = _child(data, moov, "mvex")
    if mvex is None:
        return {}
    for trex in _boxes(data, mvex.payload, mvex.end):
        if trex.type != "trex":
            continue
        tid, duration, size, flags = (_read(_U32, data, trex.payload + at, trex.end) for at in (4, 12, 16, 20))
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


@_reading
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
        raise _malformed(f"track timescale is {timescale}")
    durations: list[int] = []
    sizes: list[int] = []
    decode_time: int | None = None
    first: tuple[int, int, int, int] | None = None  # (moof start, data offset, size, flags)
    for moof in (b for b in _boxes(data) if b.type == "moof"):
        traf = _require(_child(data, moof, "traf"), "moof/traf")
        tfhd = _require(_child(data, traf, "tfhd"), "traf/tfhd")
        _, tf_flags = _full_box(data, tfhd)
        fields = _Fields(data, tfhd.payload + 8, tfhd.end)  # after version/flags + track_ID
        # default-base-is-moof, and the spec's default for the first traf, unless overridden
        base = fields.u64() if tf_flags & _BASE_DATA_OFFSET else moof.start
        fields.skip(tf_flags & _SAMPLE_DESCRIPTION_INDEX)
        duration_default = fields.u32_or(tf_flags & _DEFAULT_DURATION, default_sample_duration)
        size_default = fields.u32_or(tf_flags & _DEFAULT_SIZE, default_sample_size)
        flags_default = fields.u32_or(tf_flags & _DEFAULT_FLAGS, default_sample_flags)
        tfdt = _child(data, traf, "tfdt")
        if tfdt is not None and decode_time is None:
            version, _ = _full_box(data, tfdt)
            decode_time = _read(_U64 if version == 1 else _U32, data, tfdt.payload + 4, tfdt.end)
        for trun in (b for b in _boxes(data, traf.payload, traf.end) if b.type == "trun"):
            _, tr_flags = _full_box(data, trun)
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
                raise _malformed(f"trun announces {count} samples, room for {room}")
            for index in range(count):
                duration = fields.u32_or(tr_flags & _SAMPLE_DURATION, duration_default)
                size = fields.u32_or(tr_flags & _SAMPLE_SIZE, size_default)
                flags = fields.u32_or(tr_flags & _SAMPLE_FLAGS, flags_default)
                fields.skip(tr_flags & _SAMPLE_CTO)
                if index == 0 and first_flags is not None:
                    flags = first_flags
                if duration is None or size is None:
                    raise _malformed("sample without duration or size (and no default)")
                if first is None:
                    offset = base + data_offset if data_offset is not None else _mdat_payload(data, moof)
                    first = (moof.start, offset, size, flags or 0)
                durations.append(duration)
                sizes.append(size)
    if first is None:
        raise _malformed("media segment without samples")
    moof_start, sample_offset, sample_size, sample_flags = first
    if sample_offset < moof_start or sample_offset + sample_size > len(data):
        raise _malformed("first sample lies past the end of the segment")
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
        value = _read(layout, self.data, self.pos, self.end)
        self.pos += layout.size
        return value

    def u32(self) -> int:
        return self._next(_U32)

    def i32(self) -> int:
        return self._next(_I32)

    def u64(self) -> int:
        return self._next(_U64)

    def u32_or(self, present: int, fallback: int | None) -> int | None:
        return self.u32() if present else fallback

    def skip(self, present: int) -> None:
        if present:
            self.pos += 4


def _mdat_payload(data: bytes, moof: _Box) -> int:
    mdat = next((b for b in _boxes(data, moof.end) if b.type == "mdat"), None)
    return _require(mdat, "mdat after moof").payload


def _has_idr(sample: bytes, length_size: int) -> bool:
    pos = 0
    while pos + length_size < len(sample):
        size = int.from_bytes(sample[pos : pos + length_size], "big")
        pos += length_size
        if sample[pos] & 0x1F == _AVC_IDR_NAL:
            return True
        pos += size
    return False
