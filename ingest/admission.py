"""Pre-create checks: refuse what can never become a video before a single byte is stored. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from ingest.errors import TusError

# Metadata keys clients use for the declared media type (tus-js-client/Uppy: filetype).
TYPE_KEYS = ("filetype", "type", "mimetype", "contentType", "content_type")
NAME_KEYS = ("filename", "name")
# Generic types that declare nothing; the content check after the upload decides.
NEUTRAL_TYPES = {"application/octet-stream", "binary/octet-stream", ""}
VIDEO_APPLICATION_TYPES = {
    "application/mp4",
    "application/x-matroska",
    "application/mxf",
    "application/vnd.rn-realmedia",
}
MAX_NAME = 255
# Upload-Metadata "loudnorm": whether the asset's audio is normalised (EBU R128); absent: the workers' setting.
LOUDNORM_KEY = "loudnorm"
_SWITCH = {"on": True, "true": True, "yes": True, "1": True, "off": False, "false": False, "no": False, "0": False}


def loudnorm_option(meta: dict[str, str | None]) -> bool | None:
    """The asset's loudness option from Upload-Metadata; TusError (400) for a value that is not on/off."""
    if LOUDNORM_KEY not in meta:
        return None
    value = (meta[LOUDNORM_KEY] or "").strip().lower()
    if value not in _SWITCH:
        raise TusError("invalid-metadata", f"metadata {LOUDNORM_KEY!r} must be 'on' or 'off', not {value[:20]!r}")
    return _SWITCH[value]


def admit(meta: dict[str, str | None]) -> None:
    """Raise TusError (400 or 415) for metadata that announces a non-video or is unusable."""
    switch(meta, DOWNLOADS_KEY)
    loudnorm_option(meta)
    for key in NAME_KEYS:
        if key in meta:
            name = meta[key]
            if name is None or not name.strip():
                raise TusError("invalid-metadata", f"metadata {key!r} needs a value")
            if len(name) > MAX_NAME or any(ch in name for ch in "\x00\r\n"):
                raise TusError("invalid-metadata", f"metadata {key!r} is not a usable file name")
    for key in TYPE_KEYS:
        if key not in meta:
            continue
        declared = (meta[key] or "").strip().lower().split(";")[0]
        if declared in NEUTRAL_TYPES or declared.startswith("video/") or declared in VIDEO_APPLICATION_TYPES:
            continue
        raise TusError("not-video", f"only video uploads are accepted; {key} declares {declared[:60]!r}")


# Upload-Metadata "mp4_downloads": "true" or "false" overrides VODSTACK_TRANSCODER_MP4_DOWNLOADS for the asset.
DOWNLOADS_KEY = "mp4_downloads"
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def switch(meta: Mapping[str, object], key: str) -> bool | None:
    """An on/off option of the metadata: None when absent; TusError (400) for anything but a boolean word."""
    if key not in meta:
        return None
    value = str(meta[key] or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise TusError("invalid-metadata", f"metadata {key!r} must be true or false, not {value[:20]!r}")
