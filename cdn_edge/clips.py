"""Clip ranges in a cache node's keys: `master.m3u8?start=12&end=47` is its own object.

The origin cuts a playlist or MPD to the range of its query (origin.clips); each range is cached on
its own, under the object's key plus the canonical range (playback.clips), so a range is never
served for another range or for the whole asset, and `start=12` and `start=12.000` share an entry.
Any other query (a token) stays out of the key, as before. The separator is a newline, which no
object key can hold (traffic.paths refuses control characters): a path spelling the canonical form
(`master.m3u8%3Fstart=12`) is another key, never this one. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from httpsemantics.caching import Kind, classify
from httpsemantics.variants import is_generated, split_variant
from playback.clips import ClipRange, parse_clip

SEPARATOR = "\n"


def requested_clip(key: str, query: Mapping[str, str]) -> ClipRange | None:
    """The clip range a request for `key` asks for (ClipInvalid when malformed); None for the whole
    object, and always None for what is not a playlist or MPD (segments are never cut)."""
    if classify(key)[0] not in (Kind.PLAYLIST, Kind.MANIFEST):
        return None
    return parse_clip(query)


def cache_key(key: str, clip: ClipRange | None) -> str:
    return key if clip is None else f"{key}{SEPARATOR}{clip.query()}"


def object_key(cache_key: str) -> str:
    """The object key under a cache key (what access checks and purges are about)."""
    return cache_key.split(SEPARATOR, 1)[0]


def upstream_target(cache_key: str) -> str:
    """The path and query a cache key is fetched from upstream with: a clip's canonical range, or the
    parameters of an image made on demand (httpsemantics.variants keeps them in its key after a `?`)."""
    key, _, query = cache_key.partition(SEPARATOR)
    if not query and is_generated(split_variant(key)[0]):
        key, query = split_variant(key)  # only these keys hold a query: elsewhere a `?` is the path's own
    return "/" + quote(key, safe="/") + (f"?{query}" if query else "")
