"""The object-store port: the whole storage contract the services rely on.

Keys are '/'-separated relative paths inside a bucket. Writes are atomic: a reader sees
either the old object, nothing, or the complete new one, never a prefix of it.

`ObjectStore` is the core every backend provides. Optional features sit in `Capabilities` slots (tusd's
`StoreComposer`): a backend fills a slot only when it has the feature, and callers check the slot, never
the backend's class. Slots: `multipart` (S3 multipart uploads) and `lifecycle` (S3 bucket lifecycle
rules); the filesystem fills neither.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Protocol

from storage.errors import InvalidKey

CHUNK_SIZE = 256 * 1024


class Chunks(Iterator[bytes]):
    """An object's bytes, chunk by chunk, from a resource opened up front (a file, an HTTP response) so
    that a missing object fails the call rather than the first read. The resource is released when the
    chunks run out, on close(), or when the iterator is dropped, even unstarted: a response whose client
    left before its body was sent never iterates it, and a generator's `finally` never runs unstarted.
    """

    def __init__(self, read: Callable[[], bytes], release: Callable[[], None]) -> None:
        self._read = read  # the next chunk; b"" at the end
        self._release: Callable[[], None] | None = release

    def __next__(self) -> bytes:
        if self._release is None:
            raise StopIteration
        chunk = self._read()
        if not chunk:
            self.close()
            raise StopIteration
        return chunk

    def close(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    def __del__(self) -> None:
        self.close()


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str  # opaque strong validator, without quotes
    last_modified: datetime  # timezone-aware UTC
    content_type: str | None = None


@dataclass(frozen=True)
class UploadedPart:
    """One part of an unfinished multipart upload."""

    number: int  # 1..10,000
    etag: str  # as the backend returned it; `complete` sends it back
    size: int


@dataclass(frozen=True)
class PendingUpload:
    """An unfinished multipart upload."""

    key: str
    upload_id: str
    initiated: datetime  # timezone-aware UTC


class MultipartUploads(Protocol):
    """S3-style multipart uploads: numbered parts (each but the last at least 5 MiB on S3) stored one by
    one, then joined into one object atomically. Blocking, like ObjectStore. An `upload_id` that was
    completed, aborted or never existed raises MultipartUploadMissing where stated."""

    def create(self, bucket: str, key: str, content_type: str | None = None) -> str:
        """Start a multipart upload that will become `key`; return its upload id."""

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> str:
        """Store part `number`, replacing an earlier part of that number; return its etag.
        Raises MultipartUploadMissing."""

    def parts(self, bucket: str, key: str, upload_id: str) -> list[UploadedPart]:
        """The parts stored so far, in number order. Raises MultipartUploadMissing."""

    def complete(self, bucket: str, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> None:
        """Join `parts` (in number order, at least one) into the object `key`, atomically; the upload
        id is gone afterwards. Raises MultipartUploadMissing."""

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        """Drop the upload and its parts; a missing upload is not an error."""

    def pending(self, bucket: str, prefix: str = "") -> Iterator[PendingUpload]:
        """Every unfinished multipart upload whose key starts with `prefix`."""


@dataclass(frozen=True)
class Transition:
    """Move objects to a cheaper storage class `days` after they were written."""

    rule_id: str
    days: int
    storage_class: str  # S3's names: STANDARD_IA, GLACIER, ...


@dataclass(frozen=True)
class LifecycleRules:
    """Rules a backend applies to a whole bucket by itself, by object age (an S3 bucket lifecycle)."""

    transitions: tuple[Transition, ...] = ()
    abort_multipart_days: int | None = None  # abort multipart uploads left unfinished this long


class BucketLifecycle(Protocol):
    def set_rules(self, bucket: str, rules: LifecycleRules) -> None:
        """Replace the bucket's lifecycle rules with `rules`. Raises ObjectMissing for a missing bucket."""


@dataclass(frozen=True)
class Capabilities:
    """The optional features of a backend, each slot None when it lacks that feature."""

    multipart: MultipartUploads | None = None
    lifecycle: BucketLifecycle | None = None


class ObjectStore(Protocol):
    """What every backend provides. All methods are blocking: call them from a thread in async code."""

    capabilities: Capabilities

    def ensure_bucket(self, bucket: str) -> None:
        """Create the bucket if it does not exist."""

    def put_file(self, bucket: str, key: str, path: Path, content_type: str | None = None) -> ObjectInfo:
        """Store the file at `path` under `key`, atomically. Raises StorageUnavailable."""

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        """Store `data` under `key`, atomically."""

    def put_stream(
        self, bucket: str, key: str, stream: BinaryIO, length: int, content_type: str | None = None
    ) -> ObjectInfo:
        """Store exactly `length` bytes read from `stream` under `key`, atomically."""

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        """Describe an object. Raises ObjectMissing."""

    def read_range(self, bucket: str, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the bytes [start, end] (inclusive end; None = to the end) in chunks. Raises ObjectMissing.
        The caller need not read to the end: what it holds open is released as `Chunks` says."""

    def get_bytes(self, bucket: str, key: str) -> bytes:
        """The whole object; for small objects (playlists, metadata) only. Raises ObjectMissing."""

    def download(self, bucket: str, key: str, path: Path) -> None:
        """Copy the object to a local file. Raises ObjectMissing."""

    def local_path(self, bucket: str, key: str) -> Path | None:
        """A local file holding the object, readable in place, or None when the backend has none."""

    def read_url(self, bucket: str, key: str, expires: timedelta) -> str | None:
        """An http(s) URL another program (ffmpeg) can read the object from by byte ranges, valid for
        `expires` (at most 7 days), or None when the backend has none (it has local_path instead)."""

    def delete(self, bucket: str, key: str) -> None:
        """Remove the object; a missing key is not an error."""

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, in key order."""


def check_key(key: str) -> str:
    """Return `key` if it is a safe relative object key, else raise InvalidKey."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidKey(f"invalid object key {key!r}")
    normal = posixpath.normpath(key)
    if normal != key or normal.startswith("..") or "/../" in f"/{normal}/" or normal == ".":
        raise InvalidKey(f"invalid object key {key!r}")
    return key
