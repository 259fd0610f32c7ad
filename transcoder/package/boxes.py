"""The ISO/IEC 14496-12 box walk under transcoder.package.fmp4 (and the stitcher): boxes in a buffer,
fields read only within their box's end, anything else MalformedFmp4."""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from transcoder.errors import MalformedFmp4

U16 = struct.Struct(">H")
U32 = struct.Struct(">I")
I32 = struct.Struct(">i")
U64 = struct.Struct(">Q")
HEADER = struct.Struct(">I4s")

_P = ParamSpec("_P")
_R = TypeVar("_R")


def reading(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Map what an unchecked read of garbage raises to MalformedFmp4 (the checks below should leave
    nothing for it; the fuzz test would find what they miss, and this keeps the contract meanwhile)."""

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return function(*args, **kwargs)
        except (struct.error, IndexError, ValueError, OverflowError, ZeroDivisionError) as exc:
            raise malformed(f"unreadable ({type(exc).__name__}: {exc})") from exc

    return wrapper


@dataclass(frozen=True)
class Box:
    type: str
    start: int  # offset of the box header in the buffer
    payload: int  # offset of the first payload byte
    end: int


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[Box]:
    end = len(data) if end is None else min(end, len(data))
    pos = start
    while pos + 8 <= end:
        size, raw_type = HEADER.unpack_from(data, pos)
        header = 8
        if size == 1:
            size = read(U64, data, pos + 8, end)
            header = 16
        elif size == 0:
            size = end - pos
        box_type = raw_type.decode("latin-1")
        if box_type == "uuid":
            header += 16
        if size < header or pos + size > end:
            raise malformed(f"box {box_type!r} at {pos} overruns its parent")
        yield Box(box_type, pos, pos + header, pos + size)
        pos += size  # size >= header >= 8: every step advances


def read(layout: struct.Struct, data: bytes, pos: int, end: int) -> int:
    """The one unsigned or signed field of `layout` at `pos`, which must end by `end` (its box's end)."""
    if pos < 0 or pos + layout.size > min(end, len(data)):
        raise malformed(f"field at {pos} lies past the end of its box")
    value: int = layout.unpack_from(data, pos)[0]
    return value


def read_bytes(data: bytes, pos: int, length: int, end: int) -> bytes:
    if pos < 0 or pos + length > min(end, len(data)):
        raise malformed(f"{length} bytes at {pos} lie past the end of their box")
    return data[pos : pos + length]


def child(data: bytes, parent: Box, box_type: str, skip: int = 0) -> Box | None:
    return next((b for b in boxes(data, parent.payload + skip, parent.end) if b.type == box_type), None)


def malformed(message: str) -> MalformedFmp4:
    return MalformedFmp4(f"fMP4: {message}")


def require(box: Box | None, path: str) -> Box:
    if box is None:
        raise malformed(f"missing {path}")
    return box


def full_box(data: bytes, box: Box) -> tuple[int, int]:
    """(version, flags) of a FullBox."""
    word = read(U32, data, box.payload, box.end)
    return word >> 24, word & 0xFFFFFF
