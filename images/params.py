"""What a request for an image asks: its parameters parsed and bounded before anything is read. Pure.

Every value is matched against a short pattern before it becomes a number, so garbage, huge numbers,
`nan`, `inf`, `1e999` or a megabyte of digits is refused with a readable 400 and never reaches the
catalog, the store or ffmpeg. Times have at most millisecond precision: frames are at least 1/240 s
(4.2 ms) apart, so a finer time names no other frame and would only multiply the cached variants.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from images.errors import BadParameter

# Widths a client may ask for (the top rung of the asset bounds them further).
MIN_WIDTH = 16
MAX_WIDTH = 1920
MAX_ANIMATED_WIDTH = 640
# Width when none is asked: a player's preview size (capped by the top rung).
DEFAULT_WIDTH = 640
DEFAULT_ANIMATED_WIDTH = 320
# Animated previews: at most this long and this many frames per second.
MAX_ANIMATED_SECONDS = Decimal(10)
MAX_FPS = 15
DEFAULT_FPS = 10

_TIME = re.compile(r"\d{1,6}(?:\.\d{1,3})?")  # seconds, up to 999999.999 (the probe caps sources at 6 h)
_INT = re.compile(r"\d{1,4}")

THUMBNAIL_FORMATS = {"jpg": "image/jpeg", "webp": "image/webp", "avif": "image/avif"}


@dataclass(frozen=True)
class Thumbnail:
    format: str  # "jpg", "webp" or "avif"
    time: Decimal  # seconds from the start of the asset
    width: int | None  # None: DEFAULT_WIDTH capped by the top rung


@dataclass(frozen=True)
class Animated:
    start: Decimal
    end: Decimal
    fps: int
    width: int | None  # None: DEFAULT_ANIMATED_WIDTH capped by the top rung

    @property
    def frames(self) -> int:
        """Frames the preview holds: those at start + k/fps within [start, end); it lasts frames/fps."""
        return max(1, int(((self.end - self.start) * self.fps).to_integral_value(rounding=ROUND_CEILING)))


ImageRequest = Thumbnail | Animated


def content_type(request: ImageRequest) -> str:
    return THUMBNAIL_FORMATS[request.format] if isinstance(request, Thumbnail) else "image/webp"


def parse(name: str, pairs: Sequence[tuple[str, str]]) -> ImageRequest:
    """The request for the image `name` ("thumbnail.jpg", "animated.webp", ...) with these query pairs
    (the playback token already removed). Raises BadParameter."""
    values: dict[str, str] = {}
    for key, value in pairs:
        if key in values:
            raise BadParameter(f"parameter {_shown(key)} is given more than once")
        values[key] = value
    stem, _, ext = name.partition(".")
    if stem == "thumbnail" and ext in THUMBNAIL_FORMATS:
        _only(values, {"time", "width"})
        if "time" not in values:
            raise BadParameter("time is required: seconds from the start, e.g. time=12.5")
        return Thumbnail(ext, _time(values, "time"), _width(values, MAX_WIDTH))
    if name == "animated.webp":
        _only(values, {"start", "end", "fps", "width"})
        for needed in ("start", "end"):
            if needed not in values:
                raise BadParameter(f"{needed} is required: seconds from the start, e.g. start=10&end=13")
        start, end = _time(values, "start"), _time(values, "end")
        if end <= start:
            raise BadParameter("end must be after start")
        if end - start > MAX_ANIMATED_SECONDS:
            raise BadParameter(f"an animated preview lasts at most {MAX_ANIMATED_SECONDS} s (end - start)")
        fps = _int(values, "fps", DEFAULT_FPS)
        if not 1 <= fps <= MAX_FPS:
            raise BadParameter(f"fps must be between 1 and {MAX_FPS}")
        return Animated(start, end, fps, _width(values, MAX_ANIMATED_WIDTH))
    raise BadParameter(f"no such image: {_shown(name)}")


def _only(values: dict[str, str], allowed: set[str]) -> None:
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise BadParameter(f"unknown parameter {_shown(unknown[0])}; this image takes {', '.join(sorted(allowed))}")


def _time(values: dict[str, str], key: str) -> Decimal:
    raw = values[key]
    if not _TIME.fullmatch(raw):
        raise BadParameter(f"{key} must be seconds with at most 3 decimals, e.g. {key}=12.5 (got {_shown(raw)})")
    return Decimal(raw)


def _int(values: dict[str, str], key: str, default: int) -> int:
    raw = values.get(key)
    if raw is None:
        return default
    if not _INT.fullmatch(raw):
        raise BadParameter(f"{key} must be a whole number (got {_shown(raw)})")
    return int(raw)


def _width(values: dict[str, str], largest: int) -> int | None:
    if "width" not in values:
        return None
    width = _int(values, "width", 0)
    if not MIN_WIDTH <= width <= largest:
        raise BadParameter(f"width must be between {MIN_WIDTH} and {largest} pixels")
    return width


def _shown(text: str) -> str:
    """A client's text in a message: short, printable."""
    cut = text[:40] + ("..." if len(text) > 40 else "")
    return repr("".join(ch if ch.isprintable() else "?" for ch in cut))
