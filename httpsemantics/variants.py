"""Which objects are made per request parameters, and the cache key that keeps their variants apart. Pure.

Published objects are named by their path alone: a query string on a segment is ignored by origin and
caches alike (it cannot be used to bust the caches). Images made on demand (`{asset}/thumbnail.jpg
?time=12.5&width=640`, `{asset}/animated.webp?start=..`) are different objects per parameter, so for
them the query is part of the key: sorted (the same parameters in another order are the same object),
without the playback token (a per-viewer credential, checked on every request, never part of what is
cached) and percent-encoded again, so that the key is also the request the next tier up receives.
"""

from __future__ import annotations

import posixpath
from urllib.parse import parse_qsl, urlencode

# Names of the images made on demand, directly under the asset: `{asset}/{name}`.
GENERATED = frozenset({"thumbnail.jpg", "thumbnail.webp", "thumbnail.avif", "animated.webp"})
# The query parameter that carries a playback token (playback.signing.TOKEN_PARAM; httpsemantics
# imports nothing of ours, the equality is checked by tests/httpsemantics/test_variants.py).
TOKEN_PARAM = "token"


def is_generated(key: str) -> bool:
    """True for `{asset}/{name}` with `name` one of GENERATED."""
    head, name = posixpath.split(key)
    return name in GENERATED and bool(head) and "/" not in head


def variant_key(key: str, query: str) -> str:
    """The cache key of a request for `key` with the raw `query` string: `key` itself for published
    objects, `key?sorted-query-without-token` for images made on demand."""
    if not is_generated(key):
        return key
    # Never cut: two requests sharing a key would share an answer. The origin refuses what it does not know.
    pairs = sorted((k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != TOKEN_PARAM)
    canonical = urlencode(pairs)
    return f"{key}?{canonical}" if canonical else key


def split_variant(key: str) -> tuple[str, str]:
    """(path, query) of a key made by variant_key (query "" for a published object)."""
    path, _, query = key.partition("?")
    return path, query
