"""Is a finished upload a video we can transcode? Magic bytes first (cheap, no decoder touches random
bytes), then the probe the workers use too, in a sandboxed child (media.probe_sandbox), which reads the
stored object by its path or a short-lived presigned URL: a file that hangs or crashes the decoder
fails its upload with a reason, the ingest API only waits on a pipe."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.errors import ContentRejected
from media.errors import InvalidMedia
from media.probe_sandbox import probe_stored
from media.settings import ProbeSettings
from storage.objects import ObjectStore

SNIFF_BYTES = 4096
# ISO BMFF (MP4, MOV, M4V, 3GP) top-level boxes that may open a file.
_BMFF_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot", b"uuid"}


def sniff_container(head: bytes) -> str | None:
    """The container family the first bytes announce, or None. Pure; table-tested."""
    if len(head) >= 8 and head[4:8] in _BMFF_BOXES:
        return "isobmff"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"AVIX"):
        return "avi"
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "asf"
    if head.startswith(b"OggS"):
        return "ogg"
    # Audio-only containers (transcoded to an audio-only ladder).
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"fLaC"):
        return "flac"
    # MP3: an ID3v2 tag, or straight into an MPEG audio frame (11 sync bits, then a layer that is not 0).
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06):
        return "mp3"
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):
        return "mpeg-ps"
    if head.startswith(b"\x06\x0e\x2b\x34"):
        return "mxf"
    # MPEG-TS: a sync byte every 188 bytes (192 for M2TS with its 4-byte timestamp prefix).
    for stride, first in ((188, 0), (192, 4)):
        if len(head) > first + 2 * stride and all(head[first + i * stride] == 0x47 for i in range(3)):
            return "mpeg-ts"
    return None


@dataclass(frozen=True)
class ContentReport:
    container: str
    duration: float | None = None
    width: int | None = None
    height: int | None = None


def check_original(store: ObjectStore, bucket: str, key: str, *, probe: ProbeSettings | None) -> ContentReport:
    """Describe the stored original or raise ContentRejected with a reason a creator can read.
    `probe`: the sandboxed probe's limits; None checks the magic bytes only."""
    if store.stat(bucket, key).size == 0:
        raise ContentRejected("the file is empty (0 bytes)")
    head = b"".join(store.read_range(bucket, key, 0, SNIFF_BYTES - 1))
    container = sniff_container(head)
    if container is None:
        raise ContentRejected("not a video or audio file: its first bytes match no known container")
    if probe is None:
        return ContentReport(container)
    try:
        info = probe_stored(store, bucket, key, probe)
    except InvalidMedia as exc:
        raise ContentRejected(exc.message) from exc
    if info.video is None:  # audio-only: no picture size
        return ContentReport(container, info.duration)
    return ContentReport(container, info.duration, info.video.width, info.video.height)
