"""Unfinished uploads as files in a spool directory; appends are fsynced before an offset is acknowledged.

`{spool}/{id}` holds the received bytes; its size is the offset. A PATCH carrying Upload-Checksum is
first written to `{spool}/{id}.{writer}.chunk` and appended only once verified, so a mismatch (or a crash before
verification) never leaves unverified bytes in the upload.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import time
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from ingest.hashing import RunningHashes
from ingest.store import UploadInfo, sha256_of
from storage.errors import ObjectMissing
from storage.objects import ObjectStore

# Kick off writeback after this many bytes, so the disk works while the network is still sending.
WRITEBACK_BYTES = 8 * 1024 * 1024


class HashingFile:
    """read() over a file that hashes what it returns, so finishing reads the spool file once."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        self.sha256.update(data)
        return data


def _pwrite_all(fd: int, data: bytes, position: int) -> int:
    """Write all of `data` at `position` (pwrite may write less than asked); return the end position."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, position)
        position += written
        view = view[written:]
    return position


class FilesystemUploadWriter:
    """Writes at explicit positions (pwrite), never by appending: a byte's position in the upload is
    fixed by its offset, so a writer that stalled past a lock takeover and wakes up later rewrites the
    same bytes at the same place instead of appending them after its successor's (storage-level fencing
    without a fencing token)."""

    def __init__(self, path: Path, offset: int, *, verify: bool, hashes: RunningHashes) -> None:
        self._path = path
        self._verify = verify
        self._hashes = hashes
        self._offset = offset
        self._unflushed = 0
        self._sha256 = hashes.resume(path.name, offset)
        # Per writer: a stale writer's chunk never mixes with its successor's.
        self._side = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}.chunk")
        if verify:
            self._fd = os.open(self._side, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            self._position = 0
        else:
            self._fd = os.open(path, os.O_WRONLY)
            self._position = offset
            if (held := os.fstat(self._fd).st_size) != offset:
                os.close(self._fd)
                raise RuntimeError(f"spool file of {path.name} holds {held} bytes, expected {offset}")

    def write(self, data: bytes) -> None:
        self._position = _pwrite_all(self._fd, data, self._position)
        self._unflushed += len(data)
        if self._unflushed >= WRITEBACK_BYTES:
            # Start writing back what we have so far without waiting for it (Linux starts writeback of
            # dirty pages on DONTNEED): the fsync before acknowledging then has little left to do.
            os.posix_fadvise(self._fd, self._position - self._unflushed, self._unflushed, os.POSIX_FADV_DONTNEED)
            self._unflushed = 0

    def digest(self, data: bytes) -> None:
        # With `verify` the bytes are hashed when commit appends the verified chunk.
        if self._sha256 is not None and not self._verify:
            self._sha256.update(data)

    def commit(self) -> int:
        # Where this writer's bytes end in the upload (the side file holds them from position 0).
        end = self._offset + self._position if self._verify else self._position
        if self._verify:
            os.close(self._fd)
            self._fd = -1
            with open(self._side, "rb") as src:
                dst = os.open(self._path, os.O_WRONLY)
                try:
                    position = self._offset
                    while chunk := src.read(1024 * 1024):
                        position = _pwrite_all(dst, chunk, position)
                        if self._sha256 is not None:
                            self._sha256.update(chunk)
                    os.fsync(dst)
                finally:
                    os.close(dst)
            os.unlink(self._side)
        else:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
        # The running hash covers [0, end); it is used only if that is the whole spool file.
        self._hashes.keep(self._path.name, end, self._sha256)
        return os.path.getsize(self._path)

    def discard(self) -> None:
        # May follow a failed commit, or come twice (receive_body, then its caller): close only once.
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._verify:
            # Nothing reached the spool file: the running hash still describes it.
            self._hashes.keep(self._path.name, self._offset, self._sha256)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._side)


class FilesystemUploadStore:
    def __init__(self, spool_dir: Path, objects: ObjectStore, *, sweep_grace_seconds: float = 3600.0) -> None:
        self.hashes = RunningHashes()
        self.spool_dir = Path(spool_dir)
        # Leftovers younger than this are left alone by the sweep: their creation may not be committed yet.
        self.sweep_grace_seconds = sweep_grace_seconds
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.objects = objects

    def _path(self, upload_id: str) -> Path:
        # Ids are validated hex (protocol.check_upload_id) before they reach a store.
        return self.spool_dir / upload_id

    def create(self, upload_id: str, target_key: str, length: int | None) -> dict[str, Any]:
        fd = os.open(self._path(upload_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        return {}

    def offset(self, upload: UploadInfo, bucket: str) -> int:
        try:
            return os.path.getsize(self._path(upload.id))
        except FileNotFoundError:
            pass
        # Finished (or finishing when a crash hit): the bytes are in the staging object.
        try:
            return self.objects.stat(bucket, upload.target_key).size
        except ObjectMissing:
            return 0

    def writer(self, upload: UploadInfo, offset: int, *, verify: bool) -> FilesystemUploadWriter:
        return FilesystemUploadWriter(self._path(upload.id), offset, verify=verify, hashes=self.hashes)

    def finish(self, upload: UploadInfo, bucket: str) -> str:
        path = self._path(upload.id)
        try:
            src = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            # A previous finish moved the bytes but died before the catalog knew: hash what it stored.
            return sha256_of(self.objects.read_range(bucket, upload.target_key))
        with src:
            size = os.fstat(src.fileno()).st_size
            digest = self.hashes.take(upload.id, size)
            adopt = getattr(self.objects, "adopt", None)
            if adopt is not None:
                if digest is None:
                    digest = sha256_of(iter(lambda: src.read(1024 * 1024), b""))
                try:
                    # Same filesystem: the spool file (already fsynced) becomes the object by rename.
                    adopt(bucket, upload.target_key, path)
                    return digest
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                src.seek(0)
            reader = HashingFile(src)
            self.objects.put_stream(bucket, upload.target_key, reader, size)  # type: ignore[arg-type]
        # Two finishers (a takeover during a slow finish) may race here; both stored the same bytes.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return reader.sha256.hexdigest()

    def discard(self, upload: UploadInfo) -> None:
        self.hashes.forget(upload.id)
        for path in (self._path(upload.id), *self.spool_dir.glob(f"{upload.id}.*.chunk")):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def sweep(self, live_ids: set[str]) -> int:
        removed = 0
        now = time.time()
        for entry in os.scandir(self.spool_dir):
            upload_id = entry.name.split(".", 1)[0]
            if upload_id in live_ids:
                # A .chunk file of a live upload is an unverified PATCH that died: drop it.
                if entry.name.endswith(".chunk") and now - entry.stat().st_mtime >= self.sweep_grace_seconds:
                    os.unlink(entry.path)
                    removed += 1
                continue
            if now - entry.stat().st_mtime >= self.sweep_grace_seconds:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                removed += 1
        return removed
