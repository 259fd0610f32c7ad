"""Unfinished uploads as files in a spool directory; appends are fsynced before an offset is acknowledged.

`{spool}/{id}` holds the received bytes; its size is the offset. A PATCH carrying Upload-Checksum is
first written to `{spool}/{id}.chunk` and appended only once verified, so a mismatch (or a crash before
verification) never leaves unverified bytes in the upload.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

from ingest.store import UploadInfo
from storage.errors import ObjectMissing
from storage.objects import ObjectStore


class HashingFile:
    """read() over a file that hashes what it returns, so finishing reads the spool file once."""

    def __init__(self, f: Any) -> None:
        self._f = f
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        self.sha256.update(data)
        return data


class FilesystemUploadWriter:
    def __init__(self, path: Path, offset: int, *, verify: bool) -> None:
        self._path = path
        self._verify = verify
        self._side = path.with_name(path.name + ".chunk")
        target = self._side if verify else path
        # Unbuffered: our caller already batches into ~1 MiB writes.
        self._file = open(target, "wb" if verify else "ab", buffering=0)  # noqa: SIM115 - closed in commit/discard
        if not verify and (held := self._file.tell()) != offset:
            self._file.close()
            raise RuntimeError(f"spool file of {path.name} holds {held} bytes, expected {offset}")

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            view = view[written:]

    def commit(self) -> int:
        if self._verify:
            self._file.close()
            with open(self._side, "rb") as src, open(self._path, "ab", buffering=0) as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
                os.fsync(dst.fileno())
            os.unlink(self._side)
        else:
            os.fsync(self._file.fileno())
            self._file.close()
        return os.path.getsize(self._path)

    def discard(self) -> None:
        self._file.close()
        if self._verify:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._side)


class FilesystemUploadStore:
    def __init__(self, spool_dir: Path, objects: ObjectStore, *, sweep_grace_seconds: float = 3600.0) -> None:
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
        return FilesystemUploadWriter(self._path(upload.id), offset, verify=verify)

    def finish(self, upload: UploadInfo, bucket: str) -> str:
        path = self._path(upload.id)
        try:
            src = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            # A previous finish moved the bytes but died before the catalog knew: hash what it stored.
            digest = hashlib.sha256()
            for chunk in self.objects.read_range(bucket, upload.target_key):
                digest.update(chunk)
            return digest.hexdigest()
        with src:
            size = os.fstat(src.fileno()).st_size
            reader = HashingFile(src)
            self.objects.put_stream(bucket, upload.target_key, reader, size)  # type: ignore[arg-type]
        # Two finishers (a takeover during a slow finish) may race here; both stored the same bytes.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return reader.sha256.hexdigest()

    def discard(self, upload: UploadInfo) -> None:
        for path in (self._path(upload.id), self._path(upload.id).with_name(upload.id + ".chunk")):
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
