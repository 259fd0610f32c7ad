"""Request collapsing: one upstream fetch per key, shared by every request that wants it.

The fetch runs as its own task, independent of the request that started it (a client hanging up does
not cancel it for the others). Waiters read the body as it arrives, each from its own position in the
shared chunk list, so the thousandth waiter on a slow 2 MB segment gets the first bytes as soon as
the first waiter does. A failed fetch fails every waiter the same way, and nothing is cached from it.
There is no timeout here: however slow the upstream, it is one fetch (upstream.py bounds it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from cdn_edge.cache import Entry


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
        self.chunks: list[bytes] = []
        self.received = 0
        self.done = False
        self.error: Exception | None = None
        self.waiters = 0
        self.discard = False  # set by a purge while in flight: do not store the result
        self._changed = asyncio.Event()

    # -- producer side (the fetch task) ---------------------------------------------------
    def set_head(self, head: Head) -> None:
        if not self.head.done():
            self.head.set_result(head)

    def push(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.received += len(chunk)
        self._wake()

    def finish(self, error: Exception | None = None) -> None:
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
        while not self.done:
            await self._changed.wait()
        if self.error is not None:
            raise self.error
        return b"".join(self.chunks)

    async def body(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes [start, end] (inclusive) of the body, yielded as they arrive."""
        index, offset = 0, 0
        while True:
            while index < len(self.chunks):
                chunk = self.chunks[index]
                index += 1
                chunk_start, offset = offset, offset + len(chunk)
                if offset <= start:
                    continue
                lo = max(start - chunk_start, 0)
                hi = len(chunk) if end is None else min(len(chunk), end - chunk_start + 1)
                if hi > lo:
                    yield chunk[lo:hi] if (lo, hi) != (0, len(chunk)) else chunk
                if end is not None and offset > end:
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
