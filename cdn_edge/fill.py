"""Filling the cache: the task behind one collapsed fetch. It revalidates a stored entry when there is
one (a 304 refreshes it without moving the body), otherwise streams the object into the shared Fetch
and stores it when complete. It never raises: its outcome is the Fetch's head, body and error."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import httpx
from starlette.concurrency import run_in_threadpool

from cdn_edge.cache import Entry, TieredCache
from cdn_edge.collapse import Collapser, Fetch, Head
from cdn_edge.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from cdn_edge.freshness import freshness_of, initial_age
from cdn_edge.metrics import EdgeMetrics
from cdn_edge.upstream import Upstream
from origin.access import ACCESS_HEADER

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

    async def run(self, fetch: Fetch, stale: Entry | None) -> None:
        node = self.metrics.node
        try:
            await self._run(fetch, stale)
        except (UpstreamError, httpx.HTTPError) as exc:
            if isinstance(exc, httpx.HTTPError):
                self.upstream.body_failed()
                exc = (
                    UpstreamTimeout(f"upstream body timed out: {exc!r}")
                    if isinstance(exc, httpx.TimeoutException)
                    else UpstreamUnavailable(f"upstream body failed: {exc!r}")
                )
            self.metrics.upstream_fetches.labels(node, "error").inc()
            fetch.finish(exc)
        finally:
            self.collapser.end(fetch)
            if not fetch.done:  # cancelled (shutdown): release the waiters
                fetch.finish(UpstreamUnavailable("fetch cancelled"))

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
            fetch.set_head(Head(response.status_code, headers, size, upstream_status))
            async for chunk in response.aiter_raw():
                fetch.push(chunk)
        finally:
            await response.aclose()
            # Counted also for a body that broke off: those bytes crossed the link all the same.
            self.metrics.upstream_bytes.labels(node).inc(fetch.received)
        if size is not None and fetch.received != size:
            raise UpstreamUnavailable(f"upstream sent {fetch.received} of {size} bytes")
        self.metrics.upstream_fetches.labels(node, "fetched").inc()
        fresh = freshness_of(
            response.status_code, response.headers,
            negative_ttl=self.negative_ttl, unavailable_ttl=self.unavailable_ttl,
        )  # fmt: skip
        # Waiters have every byte: release them before the (possibly slow) disk write.
        fetch.finish()
        if fresh.storable and not fetch.discard:
            entry = Entry(fetch.key, response.status_code, headers, fetch.received, born, fresh)
            await run_in_threadpool(self.cache.store, entry, fetch.chunks, lambda: not fetch.discard)
