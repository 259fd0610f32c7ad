"""Request collapsing: one upstream fetch per key, shared by every request that wants it.

The fetch runs as its own task, independent of the request that started it (a client hanging up does
not cancel it for the others). Waiters read the body as it arrives, each from its own position in the
fetch's spool (cdn_edge/spool.py: memory for objects bound for the memory tier, a file otherwise), so
the thousandth waiter on a slow 2 MB segment gets the first bytes as soon as the first waiter does,
and a slow reader costs disk space, not memory. A failed fetch fails every waiter the same way, and
nothing is cached from it.
There is no timeout here: however slow the upstream, it is one fetch (upstream.py bounds it).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

from cdn_edge.cache import Entry
from cdn_edge.spool import MemorySpool, Spool


@dataclass(frozen=True)
class Head:
    """The upstream's answer, before its body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    size: int | None  # Content-Length when known
    upstream_cache_status: str | None = None  # the Cache-Status of the caches above us
    # A 304 to our revalidation: the stored entry is fresh again and serves the waiters.
    revalidated: Entry | None = None

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class Fetch:
    def __init__(self, key: str) -> None:
        self.key = key
        self.head: asyncio.Future[Head] = asyncio.get_running_loop().create_future()
        self.spool: Spool = MemorySpool()  # the filler chooses another before setting the head
        self.received = 0
        self.done = False
        self.error: Exception | None = None
        self.waiters = 0
        self.discard = False  # set by a purge while in flight: do not store the result
        self._changed = asyncio.Event()

    # -- producer side (the fetch task) ---------------------------------------------------
    def use(self, spool: Spool) -> None:
        """Keep the body in `spool` (before any push), closed when this fetch is garbage: the fill and
        every reader hold the fetch while they use its spool."""
        self.spool = spool
        wake = weakref.WeakMethod(self._wake)  # a strong reference would keep the fetch alive in a cycle

        def readable() -> None:
            if (method := wake()) is not None:
                method()

        spool.on_readable = readable
        weakref.finalize(self, spool.close)

    def set_head(self, head: Head) -> None:
        if not self.head.done():
            self.head.set_result(head)

    async def push(self, chunk: bytes) -> None:
        """Add `chunk` to the body; may wait for the disk (bounded memory per fill)."""
        self.received += len(chunk)
        await self.spool.append(chunk)

    def finish(self, error: Exception | None = None) -> None:
        """The end of the fetch; without an error, only after `spool.flush()` (every byte readable)."""
        self.error = error
        self.done = True
        if error is not None and not self.head.done():
            self.head.set_exception(error)
            # Nobody may be waiting on the head; mark it retrieved so asyncio does not warn.
            self.head.exception()
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # -- consumer side (each waiting request) --------------------------------------------
    async def wait_head(self) -> Head:
        return await asyncio.shield(self.head)

    async def wait_done(self) -> bytes:
        """The whole body (for small objects that must be rewritten before sending)."""
        return b"".join([chunk async for chunk in self.body()])

    async def body(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes [start, end] (inclusive) of the body, yielded as they arrive."""
        position = start
        while True:
            spool = self.spool
            limit = spool.available if end is None else min(spool.available, end + 1)
            if position < limit:
                chunk = await spool.read(position, limit)
                position += len(chunk)
                yield chunk
                continue
            if end is not None and position > end:
                return
            if self.done:
                if self.error is not None:
                    raise self.error
                return
            await self._changed.wait()


class Collapser:
    """The fetches in flight, by key."""

    def __init__(self) -> None:
        self.inflight: dict[str, Fetch] = {}

    def get(self, key: str) -> Fetch | None:
        return self.inflight.get(key)

    def begin(self, key: str) -> tuple[Fetch, bool]:
        """The fetch for `key` and whether the caller must start it (True for the first caller)."""
        fetch = self.inflight.get(key)
        if fetch is not None:
            fetch.waiters += 1
            return fetch, False
        fetch = Fetch(key)
        fetch.waiters = 1
        self.inflight[key] = fetch
        return fetch, True

    def end(self, fetch: Fetch) -> None:
        if self.inflight.get(fetch.key) is fetch:
            del self.inflight[fetch.key]

    def discard(self, key: str) -> None:
        """Purge: the fetch in flight for `key` is not stored, and later requests start a new one."""
        fetch = self.inflight.pop(key, None)
        if fetch is not None:
            fetch.discard = True

    def discard_prefix(self, prefix: str) -> None:
        for key in [k for k in self.inflight if k.startswith(prefix)]:
            self.discard(key)
