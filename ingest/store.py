"""The storage contract of unfinished uploads (the TUS data store), in one place like tusd's datastore.go.

An upload's bytes live in a backend-specific place until it is finished; then `finish` turns them into
one object of the staging bucket. The offset is always derived from what the backend holds, never from a
counter that can drift: after a crash the catalog may lag, storage does not.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Protocol


@dataclass(frozen=True)
class UploadInfo:
    """One upload as the catalog records it (a read-only snapshot)."""

    id: str
    state: str
    length: int | None
    offset: int
    concat: str | None = None
    concat_parts: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    store_state: dict[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None
    asset_id: str | None = None
    staging_key: str | None = None
    sha256: str | None = None
    owner: str | None = None  # principal whose key created it (None: made before owners existed)

    @property
    def target_key(self) -> str:
        """Where the finished bytes go in the staging bucket."""
        prefix = "partials" if self.concat == "partial" else "originals"
        return f"{prefix}/{self.id}"


class UploadWriter(Protocol):
    """Receives the body of one PATCH (or POST with data). Blocking: call from a worker thread."""

    def write(self, data: bytes) -> None:
        """Accept the next bytes. With `verify` they stay invisible until `commit`."""

    def digest(self, data: bytes) -> None:
        """Feed the same bytes, in the same order, to the upload's running sha256. Independent of
        `write`, so the caller may run the two on different threads at once."""

    def commit(self) -> int:
        """Make everything written durable and return the upload's new offset (read back from storage)."""

    def discard(self) -> None:
        """Forget what this writer received (checksum mismatch); storage keeps the previous offset."""


class UploadStore(Protocol):
    """Blocking methods, called from worker threads. Raise storage.errors.StorageError on backend failure."""

    def create(self, upload_id: str, target_key: str, length: int | None) -> dict[str, Any]:
        """Prepare storage for a new upload finishing at `target_key`; return the bookkeeping to keep in
        Upload.store_state."""

    def offset(self, upload: UploadInfo, bucket: str) -> int:
        """Bytes durably held for the upload, including bytes already moved to `upload.target_key`."""

    def writer(self, upload: UploadInfo, offset: int, *, verify: bool) -> UploadWriter:
        """A writer appending at `offset`, which the caller checked equals `self.offset(upload)`."""

    def finish(self, upload: UploadInfo, bucket: str) -> str:
        """Move the complete upload into `bucket`/`upload.target_key` and return its sha256 (hex).
        Idempotent: after a crash half-way, calling it again completes the move."""

    def discard(self, upload: UploadInfo) -> None:
        """Reclaim everything held for an unfinished upload (termination, expiry)."""

    def sweep(self, live_ids: set[str]) -> int:
        """Reclaim leftovers of uploads that are not in `live_ids` (crashed creations, temp files,
        forgotten multipart uploads); return how many things were removed."""


def sha256_of(chunks: Any) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


class ConcatenatedReader:
    """A read()-able stream over several iterators of bytes, hashing what passes through.

    Lets a final (concatenated) upload be written with ObjectStore.put_stream without holding any part
    in memory."""

    def __init__(self, sources: list[Any]) -> None:
        self._sources = iter(sources)
        self._current: Any = iter(())
        self._pending = b""
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        while not self._pending:
            try:
                self._pending = next(self._current)
            except StopIteration:
                try:
                    self._current = iter(next(self._sources))
                except StopIteration:
                    return b""
        if size < 0 or size >= len(self._pending):
            out, self._pending = self._pending, b""
        else:
            out, self._pending = self._pending[:size], self._pending[size:]
        self.sha256.update(out)
        return out


def as_stream(reader: ConcatenatedReader) -> BinaryIO:
    return reader  # type: ignore[return-value]
