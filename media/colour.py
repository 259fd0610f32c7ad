"""What the probe learns about a source's colour: HDR transfer, wide gamut, bit depth, dynamic metadata.

Pure: the values libavcodec reports (names as ffmpeg spells them: `smpte2084`, `arib-std-b67`,
`bt2020`, ...) in, a ColourInfo out. The transcoder decides from it whether the SDR ladder needs a
tone map (transcoder.encode.colour); the asset records it (its probe) so a creator sees what was found.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PQ = "smpte2084"  # SMPTE ST 2084, HDR10 / Dolby Vision profile 8.1 / most phone "HDR" video
HLG = "arib-std-b67"  # ARIB STD-B67, broadcast and many phones (iPhone "HDR" is HLG + Dolby Vision 8.4)
BT2020_PRIMARIES = "bt2020"
# Side data kinds (PyAV's names of AVFrameSideDataType) that say the source carries dynamic metadata
# an SDR ladder drops: noted on the asset, not carried over.
DOLBY_VISION_SIDE_DATA = frozenset({"DOVI_METADATA", "DOVI_RPU_BUFFER"})
HDR10_PLUS_SIDE_DATA = frozenset({"DYNAMIC_HDR_PLUS"})
MASTERING_SIDE_DATA = frozenset({"MASTERING_DISPLAY_METADATA", "CONTENT_LIGHT_LEVEL"})


@dataclass(frozen=True)
class ColourInfo:
    primaries: str | None = None  # e.g. "bt709", "bt2020"; None: not tagged
    transfer: str | None = None  # e.g. "bt709", "smpte2084", "arib-std-b67"
    matrix: str | None = None  # e.g. "bt709", "bt2020nc"
    range: str | None = None  # "tv" (limited) or "pc" (full)
    bit_depth: int = 8
    dolby_vision: bool = False
    hdr10_plus: bool = False
    mastering_metadata: bool = False  # static HDR10 metadata (mastering display, content light level)

    @property
    def hdr(self) -> str | None:
        """ "pq", "hlg" or None (SDR)."""
        return {PQ: "pq", HLG: "hlg"}.get(self.transfer or "")

    @property
    def wide_gamut(self) -> bool:
        return self.primaries == BT2020_PRIMARIES


# libavutil's enums (pixfmt.h) by value, named as ffmpeg's options spell them; PyAV reports the values.
PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film", 9: "bt2020",
             10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213"}  # fmt: skip
TRANSFERS = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear", 9: "log100",
             10: "log316", 11: "iec61966-2-4", 12: "bt1361e", 13: "iec61966-2-1", 14: "bt2020-10",
             15: "bt2020-12", 16: PQ, 17: "smpte428", 18: HLG}  # fmt: skip
MATRICES = {0: "gbr", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "ycgco",
            9: "bt2020nc", 10: "bt2020c", 11: "smpte2085", 12: "chroma-derived-nc", 13: "chroma-derived-c",
            14: "ictcp"}  # fmt: skip
RANGES = {1: "tv", 2: "pc"}


def _name(value: int | None, table: dict[int, str]) -> str | None:
    """ffmpeg's name of an enum value, or None when unspecified, reserved or unknown."""
    return None if value is None else table.get(int(value))


def describe_colour(
    *,
    primaries: int | None,
    transfer: int | None,
    matrix: int | None,
    colour_range: int | None,
    bit_depth: int,
    side_data: Iterable[str] = (),
) -> ColourInfo:
    kinds = {str(k).upper() for k in side_data}
    return ColourInfo(
        primaries=_name(primaries, PRIMARIES),
        transfer=_name(transfer, TRANSFERS),
        matrix=_name(matrix, MATRICES),
        range=_name(colour_range, RANGES),
        bit_depth=bit_depth,
        dolby_vision=bool(kinds & DOLBY_VISION_SIDE_DATA),
        hdr10_plus=bool(kinds & HDR10_PLUS_SIDE_DATA),
        mastering_metadata=bool(kinds & MASTERING_SIDE_DATA),
    )
