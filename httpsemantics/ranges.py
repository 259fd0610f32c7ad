"""Byte ranges (RFC 9110 14): parse a Range header against an object's size. Pure; the route maps the
errors: MalformedRange and MultipleRanges -> ignore Range and send 200, RangeNotSatisfiable -> 416.

Multi-range requests get the whole object (200): RFC 9110 14.2 lets a server ignore Range, players never
send several ranges, and multipart/byteranges would be one more body format for every cache tier.
"""

from __future__ import annotations

from dataclasses import dataclass

from httpsemantics.errors import MalformedRange, MultipleRanges, RangeNotSatisfiable


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def unsatisfied_range(size: int) -> str:
    return f"bytes */{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single range `header` asks for within `size` bytes, or None when there is no Range header."""
    if header is None:
        return None
    unit, sep, spec = header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes":
        raise MalformedRange(f"unsupported range unit in {header!r}")
    specs = [s.strip() for s in spec.split(",")]
    if any(not s for s in specs):
        raise MalformedRange(f"empty range in {header!r}")
    if len(specs) > 1:
        raise MultipleRanges(f"{len(specs)} ranges requested")
    first, dash, last = specs[0].partition("-")
    first, last = first.strip(), last.strip()
    if not dash or (first and not first.isdigit()) or (last and not last.isdigit()) or not (first or last):
        raise MalformedRange(f"malformed range {specs[0]!r}")
    if not first:  # suffix range: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        raise MalformedRange(f"range end before start in {specs[0]!r}")
    if start >= size:
        raise RangeNotSatisfiable(size)
    return ByteRange(start, min(end, size - 1))
