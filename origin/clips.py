"""Instant clips at the origin: a playlist or MPD asked for with `?start=&end=` is served cut to that
window (manifests.clip), segment-accurate, from the published package: nothing is re-encoded and
no object is written. The variant URIs of a clipped master carry the same range, so every media
playlist a player follows is cut by the same window.

Only a finished package is cut: while the asset still encodes (a growing playlist, or a master
whose ladder is partial) a clip answers 409, so a cut never freezes a half-published ladder into
caches. Blocking (reads a variant playlist): call from a thread.
"""

from __future__ import annotations

import posixpath

from httpsemantics.caching import Kind, PlaylistState, hls_state
from manifests import clip as cut
from manifests.errors import ClipOutsideMedia as OutsideMedia
from playback.clips import ClipRange
from playback.errors import ClipNotReady, ClipOutsideMedia
from storage.errors import InvalidKey, ObjectMissing
from storage.objects import ObjectStore


def clipped(
    store: ObjectStore, bucket: str, key: str, kind: Kind, body: bytes, state: PlaylistState, clip: ClipRange
) -> bytes:
    """`body` (the playlist or MPD at `key`) cut to `clip`; ClipNotReady / ClipOutsideMedia otherwise."""
    if state.growing:
        raise ClipNotReady("the asset is still encoding: a clip can be cut once it is ready")
    text = body.decode("utf-8")
    try:
        if kind is Kind.MANIFEST:
            return cut.clip_dash(text, clip.window).encode()
        variants = hls_state(text).variant_uris
        if not variants:
            return cut.clip_hls_media(text, clip.window).encode()
        # A master lists no durations: its first variant playlist says whether the window is inside the media.
        cut.clip_hls_media(_first_variant(store, bucket, key, variants), clip.window)
        return cut.clip_hls_master(text, clip.params()).encode()
    except OutsideMedia as exc:
        raise ClipOutsideMedia(str(exc)) from None


def _first_variant(store: ObjectStore, bucket: str, key: str, variants: tuple[str, ...]) -> str:
    for uri in variants:
        if "://" in uri or uri.startswith("/"):
            continue
        child = posixpath.normpath(posixpath.join(posixpath.dirname(key), uri.split("?", 1)[0]))
        try:
            return store.get_bytes(bucket, child).decode("utf-8")
        except (ObjectMissing, InvalidKey):
            continue
    raise ClipNotReady("the asset's variant playlists are not published yet")
