"""An ObjectStore that enforces tiers on the media bucket: records writes and reads in the tier index,
and makes cold objects need a restore (ObjectArchived until it is ready). Other buckets pass through."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

from storage.errors import StorageUnavailable
from storage.objects import ObjectInfo, ObjectStore
from tiering.index import TierIndex
from tiering.settings import TieringSettings


class ObjectArchived(StorageUnavailable):
    """A cold object without a readable restored copy; a restore is in progress (retry later)."""

    code = "object_archived"

    def __init__(self, bucket: str, key: str, retry_after: float) -> None:
        super().__init__(f"{bucket}/{key} is archived; restore ready in {retry_after:.0f}s")
        self.retry_after = max(1.0, retry_after)


class TieredObjectStore:
    def __init__(
        self,
        base: ObjectStore,
        index: TierIndex,
        settings: TieringSettings,
        bucket: str = "media",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base = base
        self.index = index
        self.settings = settings
        self.bucket = bucket
        self.clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)  # ensure_bucket, list, delete of other buckets, ...

    def _written(self, info: ObjectInfo) -> ObjectInfo:
        if info.bucket == self.bucket:
            self.index.record_write(info.bucket, info.key, info.size, self.clock())
        return info

    def _check_readable(self, bucket: str, key: str) -> None:
        """Record a read; raise ObjectArchived for a cold object without a readable copy."""
        if bucket != self.bucket:
            return
        now = self.clock()

        def adopt() -> tuple[int, float]:
            info = self.base.stat(bucket, key)
            return info.size, info.last_modified.timestamp()

        ready_at = self.index.record_read(
            bucket, key, now,
            restore_seconds=self.settings.restore_seconds, restored_days=self.settings.restored_days, adopt=adopt,
        )  # fmt: skip
        if ready_at is not None:
            raise ObjectArchived(bucket, key, ready_at - now)

    # -- the ObjectStore port -------------------------------------------------------------------
    def put_file(self, bucket: str, key: str, path: Path, content_type: str | None = None) -> ObjectInfo:
        return self._written(self.base.put_file(bucket, key, path, content_type))

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        return self._written(self.base.put_bytes(bucket, key, data, content_type))

    def put_stream(
        self, bucket: str, key: str, stream: BinaryIO, length: int, content_type: str | None = None
    ) -> ObjectInfo:
        return self._written(self.base.put_stream(bucket, key, stream, length, content_type))

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        # The origin stats before every read: this is where a cold object turns into a restore.
        info = self.base.stat(bucket, key)
        self._check_readable(bucket, key)
        return info

    def read_range(self, bucket: str, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        self._check_readable(bucket, key)
        return self.base.read_range(bucket, key, start, end)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        self._check_readable(bucket, key)
        return self.base.get_bytes(bucket, key)

    def download(self, bucket: str, key: str, path: Path) -> None:
        self._check_readable(bucket, key)
        self.base.download(bucket, key, path)

    def read_url(self, bucket: str, key: str, expires: timedelta) -> str | None:
        self._check_readable(bucket, key)
        return self.base.read_url(bucket, key, expires)

    def delete(self, bucket: str, key: str) -> None:
        self.base.delete(bucket, key)
        if bucket == self.bucket:
            self.index.forget(bucket, key)
