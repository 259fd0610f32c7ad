"""Clip ranges and other query variants in a cache node's keys: `master.m3u8?start=12&end=47` is its
own object, and so is `thumbnail.jpg?time=3`.

The origin cuts a playlist or MPD to the range of its query (origin.clips) and makes images per their
parameters; each variant is cached on its own under httpsemantics.variants' one scheme (object key,
then the canonical query of the parameters its kind varies by), so a range is never served for
another range or for the whole asset. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from httpsemantics.caching import Kind, classify
from httpsemantics.variants import cache_key
from playback.clips import ClipRange, parse_clip


def requested_clip(key: str, query: Mapping[str, str]) -> ClipRange | None:
    """The clip range a request for `key` asks for (ClipInvalid when malformed); None for the whole
    object, and always None for what is not a playlist or MPD (segments are never cut)."""
    if classify(key)[0] not in (Kind.PLAYLIST, Kind.MANIFEST):
        return None
    return parse_clip(query)


def request_cache_key(key: str, params: Iterable[tuple[str, str]], clip: ClipRange | None) -> str:
    """The cache key of a request for `key` with query `params`: a clip in its canonical spelling (the
    range parsed, not as sent), anything else as the kind of object allows (httpsemantics.variants)."""
    return cache_key(key, clip.params().items() if clip is not None else params)
