"""A seekable, read-only file object over a stored object, for readers that need random access
(PyAV probing an MP4 whose moov sits at the end) without downloading the whole object."""

from __future__ import annotations

import io
from collections import OrderedDict

from storage.objects import ObjectStore

# Range requests fetch whole aligned blocks of this size: probes read many small pieces.
BLOCK = 256 * 1024
# Blocks kept: a demuxer reading interleaved audio and video steps back a little now and then, and
# finds what it needs here instead of in another request.
KEEP_BLOCKS = 8


class ObjectReader(io.RawIOBase):
    def __init__(self, store: ObjectStore, bucket: str, key: str) -> None:
        self.store, self.bucket, self.key = store, bucket, key
        self.size = store.stat(bucket, key).size
        self.pos = 0
        self._blocks: OrderedDict[int, bytes] = OrderedDict()  # block index -> bytes, oldest first

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
        first, last = self.pos // BLOCK, (self.pos + want - 1) // BLOCK
        missing = [i for i in range(first, last + 1) if i not in self._blocks]
        if missing:
            # One request for the stretch from the first missing block to the last.
            lo, hi = missing[0], missing[-1]
            data = b"".join(
                self.store.read_range(self.bucket, self.key, lo * BLOCK, min(self.size, (hi + 1) * BLOCK) - 1)
            )
            for i in range(lo, hi + 1):
                self._blocks[i] = data[(i - lo) * BLOCK : (i - lo + 1) * BLOCK]
        view = memoryview(b)
        done = 0
        for i in range(first, last + 1):
            block = self._blocks[i]
            self._blocks.move_to_end(i)
            start = self.pos + done - i * BLOCK
            piece = block[start : start + want - done]
            view[done : done + len(piece)] = piece
            done += len(piece)
            if start + len(piece) < len(block) or len(block) < BLOCK:
                break  # the read ends in this block (or the object ends here)
        while len(self._blocks) > KEEP_BLOCKS:
            self._blocks.popitem(last=False)
        self.pos += done
        return done
