"""TUS 1.0.0 header grammar: pure parsing and formatting, no I/O.

Every function raises TusError with a readable message; only the exception handler turns it into a
response (as starlette's `_parse_range_header` does for ranges).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from ingest.errors import TusError

TUS_VERSION = "1.0.0"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
# Advertised in Tus-Extension. Each one is implemented by both storage backends.
EXTENSIONS = (
    "creation",
    "creation-with-upload",
    "creation-defer-length",
    "expiration",
    "checksum",
    "termination",
    "concatenation",
)
CHECKSUM_ALGORITHMS: dict[str, Callable[[], hashlib._Hash]] = {
    "sha1": hashlib.sha1,
    "md5": hashlib.md5,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}
# An upload id is ours: hex from uuid4. Anything else (dots, slashes, %2e...) is simply unknown.
_ID = re.compile(r"^[0-9a-f]{32}$")
_DIGITS = re.compile(r"^[0-9]{1,19}$")
_METADATA_KEY = re.compile(r"^[^\s,]+$")


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    digest: bytes

    def hasher(self) -> hashlib._Hash:
        return CHECKSUM_ALGORITHMS[self.algorithm]()


@dataclass(frozen=True)
class Concat:
    kind: str  # "partial" or "final"
    parts: tuple[str, ...] = ()  # upload ids of a final upload, in order


def check_version(value: str | None) -> None:
    if value != TUS_VERSION:
        raise TusError("unsupported-version", f"Tus-Resumable must be {TUS_VERSION}, got {value!r}")


def check_upload_id(upload_id: str) -> str:
    if not _ID.match(upload_id):
        raise TusError("not-found", f"no upload {upload_id[:80]!r}")
    return upload_id


def _non_negative(value: str, code: str, name: str) -> int:
    value = value.strip()
    if not _DIGITS.match(value):
        raise TusError(code, f"{name} must be a non-negative integer, got {value[:40]!r}")
    return int(value)


def parse_length(value: str) -> int:
    return _non_negative(value, "invalid-length", "Upload-Length")


def parse_offset(value: str | None) -> int:
    if value is None:
        raise TusError("invalid-offset", "Upload-Offset is required")
    return _non_negative(value, "invalid-offset", "Upload-Offset")


def parse_defer_length(value: str | None) -> bool:
    if value is None:
        return False
    if value.strip() != "1":
        raise TusError("invalid-defer-length")
    return True


def parse_metadata(value: str | None) -> dict[str, str | None]:
    """`key base64value, key2, ...` -> {"key": "value", "key2": None}. Values must be UTF-8 text."""
    meta: dict[str, str | None] = {}
    if value is None or not value.strip():
        return meta
    for pair in value.split(","):
        parts = pair.strip().split(" ")
        if len(parts) > 2 or not parts[0] or not _METADATA_KEY.match(parts[0]):
            raise TusError("invalid-metadata", f"malformed Upload-Metadata pair {pair.strip()[:60]!r}")
        key = parts[0]
        if key in meta:
            raise TusError("invalid-metadata", f"duplicate Upload-Metadata key {key!r}")
        if len(parts) == 1:
            meta[key] = None
            continue
        try:
            raw = base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError):
            raise TusError("invalid-metadata", f"Upload-Metadata value of {key!r} is not base64") from None
        try:
            meta[key] = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise TusError("invalid-metadata", f"Upload-Metadata value of {key!r} is not UTF-8") from None
    return meta


def format_metadata(meta: dict[str, str | None]) -> str:
    return ",".join(
        key if value is None else f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in meta.items()
    )


def parse_checksum(value: str | None) -> Checksum | None:
    if value is None:
        return None
    parts = value.strip().split(" ")
    if len(parts) != 2:
        raise TusError("invalid-checksum", "Upload-Checksum must be '<algorithm> <base64 digest>'")
    algorithm = parts[0].lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        supported = ", ".join(CHECKSUM_ALGORITHMS)
        raise TusError("unsupported-checksum", f"unsupported checksum algorithm {parts[0][:20]!r}; use {supported}")
    try:
        digest = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise TusError("invalid-checksum", "Upload-Checksum digest is not base64") from None
    if len(digest) != CHECKSUM_ALGORITHMS[algorithm]().digest_size:
        raise TusError("invalid-checksum", f"Upload-Checksum digest has the wrong length for {algorithm}")
    return Checksum(algorithm, digest)


def parse_concat(value: str | None) -> Concat | None:
    """`partial` or `final;/files/a https://host/files/b` (URLs or paths; the last segment is the id)."""
    if value is None:
        return None
    value = value.strip()
    if value == "partial":
        return Concat("partial")
    if not value.startswith("final;"):
        raise TusError("invalid-concat", "Upload-Concat must be 'partial' or 'final;<urls>'")
    urls = value[len("final;") :].split()
    if not urls:
        raise TusError("invalid-concat", "a final upload must name its partial uploads")
    ids = []
    for url in urls:
        upload_id = url.rstrip("/").rsplit("/", 1)[-1]
        if not _ID.match(upload_id):
            raise TusError("invalid-concat", f"{url[:80]!r} is not an upload of this server")
        ids.append(upload_id)
    return Concat("final", tuple(ids))


def format_expires(when: datetime) -> str:
    """RFC 9110 HTTP-date, as Upload-Expires requires.

    format_datetime(usegmt=True) insists on datetime.UTC itself; PostgreSQL drivers hand
    back an equivalent but different UTC tzinfo, so normalise first."""
    return format_datetime(when.astimezone(UTC), usegmt=True)


def part_size_for(length: int | None, max_size: int, preferred: int, max_parts: int = 10_000) -> int:
    """S3 part size: the preferred size, grown so that `max_parts` parts still reach the upload's
    length (or the server's maximum when the length is deferred); never below S3's 5 MiB minimum."""
    ceiling = length if length is not None else max_size
    needed = -(-ceiling // max_parts)
    mib = 1024 * 1024
    return max(preferred, 5 * mib, -(-needed // mib) * mib)
