"""Where the body of one fetch lives while it arrives, so that every waiter can read it from its own
position at its own pace while the upstream is read only once.

- MemorySpool: the chunks as received. Only for a body whose Content-Length says it may go to the
  memory tier, so what a fill holds is bounded by the memory tier's per-object limit.
- FileSpool: a temporary file beside the disk tier, written in worker threads while the upstream is
  read, and read by the waiters with pread in worker threads. What it holds in memory is the bytes
  received but not yet written: one batch being written, the next one queued, each about MAX_PENDING
  at most; past that the fill waits for the disk (and TCP pushes back on the upstream). When the
  fill is complete and storable, the file itself becomes the disk tier's copy (a rename). A body
  that no tier will keep goes to an unlinked file: waiters still read it at their own pace, and
  nothing remains of it once the last one is done.

The file descriptor is shared by the fill and its readers; the Fetch owning the spool closes it when
it is garbage (weakref.finalize), that is once the fill and every reader are done with it. The fill
settles its writes before it lets go (`settle`) and a reader's pread is never abandoned, so no thread
uses a closed descriptor (whose number another open may have reused).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import anyio.to_thread

from storage.objects import CHUNK_SIZE

# Bytes received from the upstream and not yet on disk, per fill.
MAX_PENDING = 2 * CHUNK_SIZE
# Chunks written by one pwritev call (Linux accepts up to 1024).
MAX_IOV = 512


Readable = Callable[[], None]


def _nothing() -> None:
    pass


class MemorySpool:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.offsets: list[int] = []  # where each chunk starts
        self.available = 0  # bytes readable
        self.on_readable: Readable = _nothing

    async def append(self, chunk: bytes) -> None:
        self.offsets.append(self.available)
        self.chunks.append(chunk)
        self.available += len(chunk)
        self.on_readable()

    async def flush(self) -> None:
        pass

    async def settle(self) -> None:
        pass

    async def read(self, position: int, limit: int) -> bytes:
        """Bytes from `position` (< available), at most up to `limit` (exclusive)."""
        index = bisect.bisect_right(self.offsets, position) - 1
        chunk, start = self.chunks[index], self.offsets[index]
        lo, hi = position - start, min(len(chunk), limit - start)
        return chunk if (lo, hi) == (0, len(chunk)) else chunk[lo:hi]

    def close(self) -> None:
        pass


class FileSpool:
    """Create with `await FileSpool.create(directory, keep=...)`."""

    def __init__(self, fd: int, path: Path | None) -> None:
        self.fd = fd
        self.path = path  # None for an unlinked (anonymous) spool, or once the disk tier took the file
        self.available = 0  # bytes on disk, readable
        self.on_readable: Readable = _nothing
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._write: asyncio.Task[int] | None = None  # at most one at a time, in order
        self._error: OSError | None = None

    @classmethod
    async def create(cls, directory: Path, *, keep: bool) -> FileSpool:
        """A spool in `directory`; `keep` leaves it a name (so the disk tier can take the file over)."""

        def make() -> tuple[int, Path | None]:
            directory.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=".tmp-fill-", dir=directory)
            if keep:
                return fd, Path(name)
            os.unlink(name)
            return fd, None

        fd, path = await anyio.to_thread.run_sync(make)
        return cls(fd, path)

    async def append(self, chunk: bytes) -> None:
        """Queue `chunk` for the disk. Waits for the disk once MAX_PENDING bytes are queued; raises
        OSError when a write failed."""
        self._check()
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        if self._write is None:
            self._start_write()
        while self._pending_bytes >= MAX_PENDING and self._write is not None:
            await asyncio.wait({self._write})  # its completion starts the next write, of what is pending
        self._check()

    async def flush(self) -> None:
        """Every byte appended is readable; raises OSError when a write failed."""
        while self._write is not None:
            await asyncio.wait({self._write})
        self._check()

    async def settle(self) -> None:
        """No write in flight any more, none to come (the fill is over, failed or cancelled)."""
        self._pending, self._pending_bytes = [], 0
        while self._write is not None:
            await asyncio.wait({self._write})

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def _start_write(self) -> None:
        chunks, size = self._pending, self._pending_bytes
        self._pending, self._pending_bytes = [], 0
        fd, offset = self.fd, self.available

        def write() -> int:
            # The chunks as received, without joining them (a second copy of what is pending).
            done = os.pwritev(fd, chunks, offset) if len(chunks) <= MAX_IOV else 0
            if done < size:  # a short write (or too many chunks for one call): the rest, plainly
                rest = memoryview(b"".join(chunks))[done:]
                while rest:
                    written = os.pwrite(fd, rest, offset + done)
                    done, rest = done + written, rest[written:]
            return done

        # A task of its own (not awaited here): the fill goes on reading the upstream meanwhile.
        self._write = asyncio.get_running_loop().create_task(anyio.to_thread.run_sync(write))
        self._write.add_done_callback(self._written)

    def _written(self, write: asyncio.Task[int]) -> None:
        """A write is over: its bytes are readable, and what was queued meanwhile goes to disk at once
        (so a stalled upstream never leaves received bytes unreadable). Runs before anything awaiting
        the write resumes (callbacks run in the order they were added)."""
        self._write = None
        if write.cancelled():
            self._error = OSError("spool write cancelled")
        elif (error := write.exception()) is not None:
            self._error = error if isinstance(error, OSError) else OSError(f"spool write failed: {error!r}")
        else:
            self.available += write.result()
            self.on_readable()
        if self._pending and self._error is None:
            self._start_write()

    async def read(self, position: int, limit: int) -> bytes:
        """Bytes from `position` (< available), at most CHUNK_SIZE and up to `limit` (exclusive)."""
        size = min(CHUNK_SIZE, limit - position, self.available - position)
        # Not abandoned on cancel (anyio's default): the fd stays in use until pread has returned.
        return await anyio.to_thread.run_sync(os.pread, self.fd, size, position)

    def discard_file(self) -> None:
        """Blocking: remove the spool's name (the disk tier did not take it); readers keep reading."""
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.path = None

    def close(self) -> None:
        """Called once nothing uses the spool any more (see the module docstring)."""
        os.close(self.fd)


Spool = MemorySpool | FileSpool
