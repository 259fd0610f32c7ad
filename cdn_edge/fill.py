"""Filling the cache: the task behind one collapsed fetch. It revalidates a stored entry when there is
one (a 304 refreshes it without moving the body), otherwise streams the object into the shared Fetch
and stores it when complete. It never raises: its outcome is the Fetch's head, body and error.

Memory is bounded per fill and fills are bounded in number: an object whose Content-Length lets it
into the memory tier is buffered in memory (at most the memory tier's per-object limit); any other
object streams to a file beside the disk tier in bounded chunks (cdn_edge/spool.py), which the disk
tier takes over by a rename once complete. At most `max_fills` fills talk to the upstream at once;
the others wait for a slot (their waiters wait for the head meanwhile)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio.to_thread
import httpx
from starlette.concurrency import run_in_threadpool

from cdn_edge.cache import Entry, TieredCache
from cdn_edge.collapse import Collapser, Fetch, Head
from cdn_edge.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from cdn_edge.freshness import freshness_of, initial_age
from cdn_edge.metrics import EdgeMetrics
from cdn_edge.spool import FileSpool, MemorySpool, Spool
from cdn_edge.upstream import Upstream
from playback.access import ACCESS_HEADER

# End-to-end headers worth keeping with a stored object; hop-by-hop and per-response ones are not.
STORED_HEADERS = (
    "content-type", "etag", "last-modified", "cache-control", "expires", "retry-after",
    "content-disposition", "content-language", ACCESS_HEADER,
)  # fmt: skip
REFRESHED_BY_304 = ("cache-control", "expires", "etag", "last-modified", ACCESS_HEADER)


def stored_headers(headers: httpx.Headers) -> tuple[tuple[str, str], ...]:
    return tuple((name, headers[name]) for name in STORED_HEADERS if name in headers)


@dataclasses.dataclass
class Filler:
    cache: TieredCache
    collapser: Collapser
    upstream: Upstream
    metrics: EdgeMetrics
    clock: Callable[[], float]
    negative_ttl: float
    unavailable_ttl: float
    # Where bodies not bound for the memory tier are spooled when there is no disk tier to take them.
    spool_dir: Path
    max_fills: int = 32
    _slots: asyncio.Semaphore | None = dataclasses.field(default=None, init=False, repr=False)
    _slots_loop: asyncio.AbstractEventLoop | None = dataclasses.field(default=None, init=False, repr=False)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One of the `max_fills` fill slots, waited for if need be (counted in the fills gauge)."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:  # tests run one app on several loops
            self._slots, self._slots_loop = asyncio.Semaphore(self.max_fills), loop
        slots, node = self._slots, self.metrics.node
        with self.metrics.fills.labels(node, "waiting").track_inprogress():
            await slots.acquire()
        try:
            with self.metrics.fills.labels(node, "running").track_inprogress():
                yield
        finally:
            slots.release()

    async def run(self, fetch: Fetch, stale: Entry | None) -> None:
        node = self.metrics.node
        try:
            async with self.slot():
                await self._run(fetch, stale)
        except (UpstreamError, httpx.HTTPError, OSError) as exc:
            if isinstance(exc, httpx.HTTPError):
                self.upstream.body_failed()
                exc = (
                    UpstreamTimeout(f"upstream body timed out: {exc!r}")
                    if isinstance(exc, httpx.TimeoutException)
                    else UpstreamUnavailable(f"upstream body failed: {exc!r}")
                )
            elif isinstance(exc, OSError):  # the spool's disk (full, gone): this fill only
                exc = UpstreamUnavailable(f"cannot spool the body: {exc!r}")
            self.metrics.upstream_fetches.labels(node, "error").inc()
            fetch.finish(exc)
        finally:
            self.collapser.end(fetch)
            if not fetch.done:  # cancelled (shutdown): release the waiters
                fetch.finish(UpstreamUnavailable("fetch cancelled"))
            spool = fetch.spool
            await spool.settle()
            if isinstance(spool, FileSpool) and spool.path is not None:
                await anyio.to_thread.run_sync(spool.discard_file)

    async def _run(self, fetch: Fetch, stale: Entry | None) -> None:
        node = self.metrics.node
        conditional: dict[str, str] = {}
        if stale is not None and stale.status == 200:
            if etag := stale.header("etag"):
                conditional["if-none-match"] = etag
            if modified := stale.header("last-modified"):
                conditional["if-modified-since"] = modified
        response = await self.upstream.open(fetch.key, conditional)
        try:
            received_at = self.clock()
            born = received_at - initial_age(response.headers)
            upstream_status = response.headers.get("cache-status")
            if response.status_code == 304 and stale is not None:
                updates = {k: response.headers[k] for k in REFRESHED_BY_304 if k in response.headers}
                merged = tuple((k, updates.pop(k, v)) for k, v in stale.headers) + tuple(updates.items())
                fresh = freshness_of(200, dict(merged), negative_ttl=self.negative_ttl)
                entry = dataclasses.replace(stale, headers=merged, stored_at=born, freshness=fresh)
                await run_in_threadpool(self.cache.refresh, entry)
                self.metrics.upstream_fetches.labels(node, "revalidated").inc()
                fetch.set_head(Head(200, merged, stale.size, upstream_status, revalidated=entry))
                fetch.finish()
                return
            headers = stored_headers(response.headers)
            length = response.headers.get("content-length")
            size = int(length) if length and length.isdigit() else None
            fresh = freshness_of(
                response.status_code, response.headers,
                negative_ttl=self.negative_ttl, unavailable_ttl=self.unavailable_ttl,
            )  # fmt: skip
            fetch.use(await self._spool(response.status_code, size, fresh.storable))
            fetch.set_head(Head(response.status_code, headers, size, upstream_status))
            async for chunk in response.aiter_raw():
                await fetch.push(chunk)
            await fetch.spool.flush()
        finally:
            await response.aclose()
            # Counted also for a body that broke off: those bytes crossed the link all the same.
            self.metrics.upstream_bytes.labels(node).inc(fetch.received)
        if size is not None and fetch.received != size:
            raise UpstreamUnavailable(f"upstream sent {fetch.received} of {size} bytes")
        self.metrics.upstream_fetches.labels(node, "fetched").inc()
        # Waiters have every byte: release them before the (possibly slow) disk write.
        fetch.finish()
        if fresh.storable and not fetch.discard:
            entry = Entry(fetch.key, response.status_code, headers, fetch.received, born, fresh)
            await run_in_threadpool(self._store, entry, fetch.spool, lambda: not fetch.discard)

    async def _spool(self, status: int, size: int | None, storable: bool) -> Spool:
        """Memory for a body the memory tier may take (its length says so), a file otherwise: named
        in the disk tier's directory when the disk tier may take it over, unlinked when no tier will."""
        if size is not None and size <= self.cache.max_memory_object:
            return MemorySpool()
        disk = self.cache.disk
        if disk is not None and status == 200 and storable and (size is None or size <= disk.budget):
            return await FileSpool.create(disk.fill_dir, keep=True)
        return await FileSpool.create(self.spool_dir, keep=False)

    def _store(self, entry: Entry, spool: Spool, wanted: Callable[[], bool]) -> None:
        """Blocking: hand a complete body to the tiers."""
        if isinstance(spool, MemorySpool):
            self.cache.store(entry, spool.chunks, wanted)
        elif spool.path is not None and self.cache.store_file(entry, spool.path, wanted):
            spool.path = None  # renamed into the disk tier: no longer ours to remove
