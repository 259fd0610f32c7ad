"""The clip range of a request: `?start=12&end=47` on a playlist or MPD asks for that window of the
asset (manifests.clip cuts it). Parsed once here for the origin, the cache nodes and the asset API,
into a canonical form: millisecond precision, so `start=12` and `start=12.000` are one range, one
cache entry and one token binding.

A range is refused with ClipInvalid (400) when a bound is not a finite, non-negative number of
seconds, when start is not before end, or when the window is shorter than manifests.clip.MIN_SECONDS.
An end past the media is clamped where the media is known (manifests.clip); a start past it is
refused there. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from manifests.clip import MIN_SECONDS, Window
from playback.errors import ClipInvalid

START_PARAM = "start"
END_PARAM = "end"
# Twice the longest media we accept (6 h): anything beyond is a typo or an attack, never a clip.
MAX_SECONDS = 12 * 3600


@dataclass(frozen=True)
class ClipRange:
    """[start_ms, end_ms) in milliseconds; end_ms None: to the end of the media."""

    start_ms: int
    end_ms: int | None

    @property
    def window(self) -> Window:
        return Window(self.start_ms / 1000, None if self.end_ms is None else self.end_ms / 1000)

    def params(self) -> dict[str, str]:
        """The canonical query parameters of this range."""
        params = {START_PARAM: _seconds(self.start_ms)}
        if self.end_ms is not None:
            params[END_PARAM] = _seconds(self.end_ms)
        return params

    def query(self) -> str:
        return "&".join(f"{k}={v}" for k, v in self.params().items())

    def binding(self) -> str:
        """The range as a playback token binds it: `<start_ms>-<end_ms>` (end empty: open)."""
        return f"{self.start_ms}-{'' if self.end_ms is None else self.end_ms}"

    @classmethod
    def from_binding(cls, text: str) -> ClipRange | None:
        start, sep, end = text.partition("-")
        if not sep or not start.isdigit() or not (end.isdigit() or end == ""):
            return None
        return cls(int(start), int(end) if end else None)


def _seconds(ms: int) -> str:
    whole, frac = divmod(ms, 1000)
    return f"{whole}.{frac:03d}".rstrip("0").rstrip(".") if frac else str(whole)


def _bound(name: str, raw: str) -> int:
    try:
        value = float(raw)
    except ValueError:
        raise ClipInvalid(f"{name}={raw[:40]!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise ClipInvalid(f"{name}={raw[:40]!r} must be a finite number of seconds, 0 or more")
    if value > MAX_SECONDS:
        raise ClipInvalid(f"{name}={raw[:40]!r} is beyond any media ({MAX_SECONDS} s)")
    return round(value * 1000)


def parse_clip(query: Mapping[str, str]) -> ClipRange | None:
    """The clip range a request's query asks for, None when it names neither bound."""
    if START_PARAM not in query and END_PARAM not in query:
        return None
    start = _bound(START_PARAM, query[START_PARAM]) if query.get(START_PARAM, "") != "" else 0
    end = _bound(END_PARAM, query[END_PARAM]) if query.get(END_PARAM, "") != "" else None
    if end is not None and start >= end:
        raise ClipInvalid(f"the clip must start before it ends (start={_seconds(start)}, end={_seconds(end)})")
    if end is not None and end - start < MIN_SECONDS * 1000:
        raise ClipInvalid(f"a clip lasts at least {MIN_SECONDS:g} s")
    return ClipRange(start, end)
