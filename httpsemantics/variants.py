"""Objects that vary by query, and the one cache-key scheme that keeps their variants apart. Pure.

Published objects are named by their path alone: a query string on a segment is ignored by origin and
caches alike (it cannot be used to bust the caches). Two kinds of request make a different object per
parameter, each with the parameters it is allowed to vary by:

- images made on demand (`{asset}/thumbnail.jpg?time=12.5&width=640`, `{asset}/animated.webp?start=..`):
  every parameter but the playback token (a per-viewer credential, checked on every request, never part
  of what is cached). Never cut further: two requests sharing a key would share an answer, and the
  origin refuses the parameters it does not know.
- playlists and MPDs cut to a clip range (`master.m3u8?start=12&end=47`, playback.clips): the range
  only, in its canonical spelling (the caller parses it), so `start=12` and `start=12.000` share an
  entry and any other parameter (a token, CMCD) stays out.

A cache key is the object key, then SEPARATOR and the canonical query (allowed parameters sorted, the
same in another order being the same object, and percent-encoded again) when there is one. The
separator is a newline, which no object key can hold (traffic.paths refuses control characters): a
path spelling a query (`master.m3u8%3Fstart=12`) is another key, never a variant's. The edge and the
shield key their caches this way, fetch a key's variant upstream from it, and a purge of an object
key takes every variant with it (`variants_prefix`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from urllib.parse import quote, urlencode

from httpsemantics.caching import Kind, classify

# Names of the images made on demand, directly under the asset: `{asset}/{name}`.
GENERATED = frozenset({"thumbnail.jpg", "thumbnail.webp", "thumbnail.avif", "animated.webp"})
# The query parameter that carries a playback token (playback.signing.TOKEN_PARAM), and those of a
# clip range (playback.clips): httpsemantics imports nothing of ours, tests/httpsemantics/test_variants.py
# checks the equality.
TOKEN_PARAM = "token"
CLIP_PARAMS = frozenset({"start", "end"})
SEPARATOR = "\n"


def is_generated(key: str) -> bool:
    """True for `{asset}/{name}` with `name` one of GENERATED."""
    head, name = posixpath.split(key)
    return name in GENERATED and bool(head) and "/" not in head


def varies(key: str, name: str) -> bool:
    """Whether query parameter `name` makes another object of `key` (its kind's allowed parameters)."""
    if is_generated(key):
        return name != TOKEN_PARAM
    if classify(key)[0] in (Kind.PLAYLIST, Kind.MANIFEST):
        return name in CLIP_PARAMS
    return False


def cache_key(key: str, params: Iterable[tuple[str, str]]) -> str:
    """The cache key of `key` asked with query `params` (name, value pairs, decoded): `key` itself
    when none of them varies it, else `key` SEPARATOR the allowed ones sorted and percent-encoded."""
    canonical = urlencode(sorted((name, value) for name, value in params if varies(key, name)))
    return f"{key}{SEPARATOR}{canonical}" if canonical else key


def split_cache_key(cache_key: str) -> tuple[str, str]:
    """(object key, canonical query) of a cache key (query "" for a published object)."""
    key, _, query = cache_key.partition(SEPARATOR)
    return key, query


def object_key(cache_key: str) -> str:
    """The object under a cache key (what access checks and purges are about)."""
    return split_cache_key(cache_key)[0]


def upstream_target(cache_key: str) -> str:
    """The path and query the next tier up is asked with for a cache key."""
    key, query = split_cache_key(cache_key)
    return "/" + quote(key, safe="/") + (f"?{query}" if query else "")


def variants_prefix(key: str) -> str:
    """What every variant's cache key of object `key` starts with (and no other object's does)."""
    return key + SEPARATOR
