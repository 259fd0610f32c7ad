"""What kind of object a key names, its Content-Type, and how long caches may keep it. Pure.

Segments and init segments never change once published (deterministic keys, publish-once), so they
are immutable for a year. Playlists are the only mutable objects: a finished VOD playlist gets a short
TTL plus stale-while-revalidate / stale-if-error so caches keep answering through origin trouble; a
playlist that is still growing (progressive publish) may be cached for at most half a target duration,
so a player polling it sees a new segment about as soon as it exists.
"""

from __future__ import annotations

import enum
import posixpath
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import m3u8


class Kind(enum.Enum):
    PLAYLIST = "playlist"  # HLS, master or media
    MANIFEST = "manifest"  # DASH MPD
    INIT = "init"
    SEGMENT = "segment"
    IMAGE = "image"
    POSTER = "poster"  # a creator's poster version: <asset>/posters/<version>/<file>, never changed once published
    TEXT_TRACK = "text_track"
    DOWNLOAD = "download"  # a static MP4/M4A under an attempt's downloads/ folder
    OTHER = "other"


_BY_EXTENSION: dict[str, tuple[Kind, str]] = {
    ".m3u8": (Kind.PLAYLIST, "application/vnd.apple.mpegurl"),
    ".mpd": (Kind.MANIFEST, "application/dash+xml"),
    ".m4s": (Kind.SEGMENT, "video/iso.segment"),
    ".ts": (Kind.SEGMENT, "video/mp2t"),
    ".m4a": (Kind.SEGMENT, "audio/mp4"),
    ".mp4": (Kind.SEGMENT, "video/mp4"),
    ".jpg": (Kind.IMAGE, "image/jpeg"),
    ".jpeg": (Kind.IMAGE, "image/jpeg"),
    ".png": (Kind.IMAGE, "image/png"),
    ".webp": (Kind.IMAGE, "image/webp"),
    ".avif": (Kind.IMAGE, "image/avif"),
    ".vtt": (Kind.TEXT_TRACK, "text/vtt; charset=utf-8"),
}


def classify(key: str) -> tuple[Kind, str]:
    """The kind and Content-Type of the object at `key`."""
    name = posixpath.basename(key)
    ext = posixpath.splitext(name)[1].lower()
    kind, content_type = _BY_EXTENSION.get(ext, (Kind.OTHER, "application/octet-stream"))
    if ext == ".mp4" and name.startswith("init"):
        return Kind.INIT, content_type
    if ext in (".mp4", ".m4a") and _download_name(key) is not None:
        return Kind.DOWNLOAD, content_type
    parts = key.split("/")
    if kind is Kind.IMAGE and len(parts) == 4 and parts[1] == "posters":
        return Kind.POSTER, content_type  # the version is a content hash (ingest.poster_versions)
    return kind, content_type


# Download names are made safe by the transcoder (transcoder.package.downloads.safe_basename); this
# only ever repeats a name of that form in a header, whatever else a key may hold.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
DOWNLOADS_FOLDER = "downloads"


def _download_name(key: str) -> str | None:
    folder, name = posixpath.split(key)
    if posixpath.basename(folder) != DOWNLOADS_FOLDER or not _SAFE_NAME.fullmatch(name):
        return None
    return name


def content_disposition(key: str) -> str | None:
    """`attachment; filename="<name>"` for a download (a browser saves it under its name rather than
    playing it inline); None for every other object."""
    kind, _ = classify(key)
    name = _download_name(key) if kind is Kind.DOWNLOAD else None
    return None if name is None else f'attachment; filename="{name}"'


@dataclass(frozen=True)
class CachePolicy:
    """Lifetimes in seconds; see OriginSettings for their meaning."""

    immutable_max_age: int = 31_536_000
    vod_playlist_max_age: int = 60
    stale_while_revalidate: int = 60
    stale_if_error: int = 86_400
    image_max_age: int = 86_400
    not_found_max_age: int = 2
    growing_default_max_age: int = 1


@dataclass(frozen=True)
class PlaylistState:
    """What a playlist's content says about whether it is finished."""

    growing: bool
    target_duration: float | None = None
    variant_uris: tuple[str, ...] = ()
    # An explicit lifetime that overrides the rules above (a playlist trimmed while rungs are restored).
    max_age: int | None = None


def hls_state(text: str) -> PlaylistState:
    """Finished media playlists carry EXT-X-ENDLIST (or PLAYLIST-TYPE:VOD). A master is finished
    only when all its variants are, which the caller resolves through `variant_uris`."""
    playlist = m3u8.loads(text)
    if playlist.is_variant:
        uris = [p.uri for p in playlist.playlists] + [m.uri for m in playlist.media if m.uri]
        return PlaylistState(growing=False, variant_uris=tuple(uris))
    finished = playlist.is_endlist or (playlist.playlist_type or "").upper() == "VOD"
    return PlaylistState(growing=not finished, target_duration=playlist.target_duration)


def dash_state(text: str) -> PlaylistState:
    """A dynamic MPD is still growing; its refresh period bounds how long it may be cached."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return PlaylistState(growing=False)
    if root.get("type", "static") != "dynamic":
        return PlaylistState(growing=False)
    period = _iso_seconds(root.get("minimumUpdatePeriod") or root.get("maxSegmentDuration") or "")
    return PlaylistState(growing=True, target_duration=period)


def _iso_seconds(value: str) -> float | None:
    # Only the PTnS / PTnMnS forms the packager writes.
    if not value.startswith("PT"):
        return None
    total, number = 0.0, ""
    for ch in value[2:]:
        if ch.isdigit() or ch == ".":
            number += ch
            continue
        if not number:
            return None
        total += float(number) * {"H": 3600, "M": 60, "S": 1}.get(ch, 0)
        number = ""
    return total or None


def cache_control(kind: Kind, policy: CachePolicy, state: PlaylistState | None = None) -> str:
    """The Cache-Control header for a 200 answer."""
    if kind in (Kind.SEGMENT, Kind.INIT, Kind.DOWNLOAD, Kind.POSTER):
        return f"public, max-age={policy.immutable_max_age}, immutable"
    if kind in (Kind.PLAYLIST, Kind.MANIFEST):
        if state is not None and state.max_age is not None:
            return f"public, max-age={state.max_age}"
        if state is not None and state.growing:
            if state.target_duration:
                return f"public, max-age={int(state.target_duration / 2)}"
            return f"public, max-age={policy.growing_default_max_age}"
        return (
            f"public, max-age={policy.vod_playlist_max_age}, "
            f"stale-while-revalidate={policy.stale_while_revalidate}, stale-if-error={policy.stale_if_error}"
        )
    if kind in (Kind.IMAGE, Kind.TEXT_TRACK):
        return f"public, max-age={policy.image_max_age}, stale-if-error={policy.stale_if_error}"
    return f"public, max-age={policy.vod_playlist_max_age}"


def not_found_cache_control(policy: CachePolicy) -> str:
    # Short, so a segment published a moment later (progressive publish) is not hidden for long.
    return f"public, max-age={policy.not_found_max_age}"
