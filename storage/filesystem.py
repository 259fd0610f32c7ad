"""Local-filesystem object store: one directory per bucket, durable atomic writes.

A write goes to a temporary file in the destination directory, is fsynced, renamed over the
final name and the directory is fsynced: after a crash a key holds the old or the new object.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from storage.errors import InvalidKey, ObjectMissing
from storage.objects import CHUNK_SIZE, Capabilities, Chunks, ObjectInfo, check_key

TMP_PREFIX = ".tmp-"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemObjectStore:
    capabilities = Capabilities()  # no multipart: unfinished uploads append to a spool file instead

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # -- paths -----------------------------------------------------------------------------
    def _bucket_dir(self, bucket: str) -> Path:
        if not bucket or "/" in bucket or bucket.startswith("."):
            raise InvalidKey(f"invalid bucket name {bucket!r}")
        return self.root / bucket

    def _path(self, bucket: str, key: str) -> Path:
        return self._bucket_dir(bucket) / check_key(key)

    def _info(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        try:
            st = path.stat()
        except FileNotFoundError:
            raise ObjectMissing(bucket, key) from None
        if not path.is_file():
            raise ObjectMissing(bucket, key)
        # Like nginx: size and mtime make a strong-enough validator because writes are atomic renames.
        etag = f"{st.st_mtime_ns:x}-{st.st_size:x}"
        modified = datetime.fromtimestamp(st.st_mtime, tz=UTC)
        return ObjectInfo(bucket, key, st.st_size, etag, modified)

    # -- port --------------------------------------------------------------------------------
    def ensure_bucket(self, bucket: str) -> None:
        self._bucket_dir(bucket).mkdir(parents=True, exist_ok=True)

    def put_stream(
        self, bucket: str, key: str, stream: BinaryIO, length: int, content_type: str | None = None
    ) -> ObjectInfo:
        dest = self._path(bucket, key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                remaining = length
                while remaining > 0:
                    chunk = stream.read(min(CHUNK_SIZE * 4, remaining))
                    if not chunk:
                        raise OSError(f"stream ended {remaining} bytes early while writing {key!r}")
                    out.write(chunk)
                    remaining -= len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        fsync_dir(dest.parent)
        return self._info(bucket, key, dest)

    def adopt(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        """Move an already-durable local file into the store by rename: no copy. Not part of the
        ObjectStore port (ingest uses it for finished uploads). Raises OSError (EXDEV) when `path`
        is on another filesystem; the caller then copies with put_file."""
        dest = self._path(bucket, key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.rename(path, dest)
        fsync_dir(dest.parent)
        return self._info(bucket, key, dest)

    def put_file(self, bucket: str, key: str, path: Path, content_type: str | None = None) -> ObjectInfo:
        size = os.path.getsize(path)
        with open(path, "rb") as src:
            return self.put_stream(bucket, key, src, size, content_type)

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        import io

        return self.put_stream(bucket, key, io.BytesIO(data), len(data), content_type)

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        return self._info(bucket, key, self._path(bucket, key))

    def read_range(self, bucket: str, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        path = self._path(bucket, key)
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by Chunks
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectMissing(bucket, key) from None
        f.seek(start)
        remaining = None if end is None else end - start + 1

        def read() -> bytes:
            nonlocal remaining
            if remaining is None:
                return f.read(CHUNK_SIZE)
            chunk = f.read(min(CHUNK_SIZE, remaining)) if remaining > 0 else b""
            remaining -= len(chunk)
            return chunk

        return Chunks(read, f.close)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        try:
            return self._path(bucket, key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectMissing(bucket, key) from None

    def download(self, bucket: str, key: str, path: Path) -> None:
        src = self._path(bucket, key)
        if not src.is_file():
            raise ObjectMissing(bucket, key)
        shutil.copyfile(src, path)

    def local_path(self, bucket: str, key: str) -> Path | None:
        path = self._path(bucket, key)
        if not path.is_file():
            raise ObjectMissing(bucket, key)
        return path

    def read_url(self, bucket: str, key: str, expires: timedelta) -> str | None:
        return None  # read in place through local_path

    def delete(self, bucket: str, key: str) -> None:
        path = self._path(bucket, key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        # Prune empty parent directories so deleted assets leave nothing behind.
        bucket_dir = self._bucket_dir(bucket)
        parent = path.parent
        while parent != bucket_dir and parent.is_relative_to(bucket_dir):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        bucket_dir = self._bucket_dir(bucket)
        if not bucket_dir.is_dir():
            return
        keys = []
        for dirpath, _dirs, files in os.walk(bucket_dir):
            for name in files:
                if name.startswith(TMP_PREFIX):
                    continue
                key = Path(dirpath, name).relative_to(bucket_dir).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        for key in sorted(keys):
            with contextlib.suppress(ObjectMissing):
                yield self.stat(bucket, key)
