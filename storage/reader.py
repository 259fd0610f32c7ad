"""A seekable, read-only file object over a stored object, for readers that need random access
(PyAV probing an MP4 whose moov sits at the end) without downloading the whole object."""

from __future__ import annotations

import io

from storage.objects import ObjectStore

# Fetch at least this much per range request: probes read many small pieces.
MIN_FETCH = 256 * 1024


class ObjectReader(io.RawIOBase):
    def __init__(self, store: ObjectStore, bucket: str, key: str) -> None:
        self.store, self.bucket, self.key = store, bucket, key
        self.size = store.stat(bucket, key).size
        self.pos = 0
        self._buf_start = 0
        self._buf = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(b), self.size - self.pos)
        if want <= 0:
            return 0
        end = self.pos + want
        if not (self._buf_start <= self.pos and end <= self._buf_start + len(self._buf)):
            fetch_end = min(self.size, self.pos + max(want, MIN_FETCH)) - 1
            self._buf = b"".join(self.store.read_range(self.bucket, self.key, self.pos, fetch_end))
            self._buf_start = self.pos
        start = self.pos - self._buf_start
        chunk = self._buf[start : start + want]
        b[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)
