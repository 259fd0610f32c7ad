"""Content-Type by object kind, for origin: the key's suffix names what was published."""

from __future__ import annotations

import posixpath

OCTET_STREAM = "application/octet-stream"

CONTENT_TYPES: dict[str, str] = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    # init segments (ftyp+moov) are complete ISO BMFF files; audio init is video/mp4 too,
    # since players sniff nothing from it and one type keeps caches simple.
    ".mp4": "video/mp4",
    # RFC 8216bis / ISO 23000-19 register video/iso.segment for CMAF media segments.
    ".m4s": "video/iso.segment",
    ".m4a": "audio/mp4",  # the audio download (transcoder.package.downloads)
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".vtt": "text/vtt",
    ".ts": "video/mp2t",
    ".json": "application/json",
}


def content_type_for(key: str) -> str:
    """The Content-Type origin sends for an object key; octet-stream when the kind is unknown."""
    suffix = posixpath.splitext(key.lower())[1]
    return CONTENT_TYPES.get(suffix, OCTET_STREAM)
