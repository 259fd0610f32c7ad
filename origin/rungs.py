"""While some rungs of an asset are archived (cold, restore pending), its multivariant playlist lists
only the rungs that are still readable, and restores for the others start at once. A player then
plays a lower rung immediately instead of stalling on 503s; once the restores are done the full
ladder is back (the trimmed playlist is cached only briefly).

Blocking (reads the tier index): call from a thread.
"""

from __future__ import annotations

import posixpath

from httpsemantics.caching import Kind, hls_state
from manifests.errors import EmptySelection
from manifests.rewrite import select_dash_rungs, select_hls_rungs

# Seconds a trimmed playlist may be cached: short, so restored rungs reappear soon.
TRIMMED_MAX_AGE = 10


def _rung_dirs(key: str, kind: Kind, text: str) -> dict[str, str]:
    """Rung name -> its object prefix, for a master playlist or an MPD (empty for media playlists)."""
    base = posixpath.dirname(key)
    if kind is Kind.PLAYLIST:
        uris = hls_state(text).variant_uris
        names = {u.split("?", 1)[0].split("/", 1)[0] for u in uris if "/" in u and "://" not in u}
    else:
        import xml.etree.ElementTree as ET

        try:
            root = ET.fromstring(text)
        except ET.ParseError:
            return {}
        names = {e.get("id", "") for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Representation"} - {""}
    return {name: posixpath.join(base, name) + "/" for name in names}


def hot_rungs_only(store: object, bucket: str, key: str, kind: Kind, body: bytes, now: float) -> bytes | None:
    """The playlist without its archived rungs, or None when nothing needs trimming (or no tiering)."""
    index = getattr(store, "index", None)
    settings = getattr(store, "settings", None)
    if index is None or settings is None or kind not in (Kind.PLAYLIST, Kind.MANIFEST):
        return None
    text = body.decode("utf-8", errors="replace")
    dirs = _rung_dirs(key, kind, text)
    if not dirs:
        return None
    archived = index.archived_prefixes(bucket, list(dirs.values()), now)
    if not archived:
        return None
    for prefix in archived:
        index.restore_prefix(bucket, prefix, now, settings.restore_seconds)
    cold_names = {name for name, prefix in dirs.items() if prefix in archived}
    try:
        if kind is Kind.PLAYLIST:
            return select_hls_rungs(text, lambda rung: rung.name not in cold_names).encode()
        return select_dash_rungs(text, lambda rung: rung.name not in cold_names).encode()
    except EmptySelection:
        return None  # every rung is archived: the segments answer 503 + Retry-After until restored
