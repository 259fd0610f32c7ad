"""The hot path of a cache node: fresh memory hits answered with pre-encoded headers.

Most requests to an edge are unconditional GETs of a fresh object held in memory. Routing them
through FastAPI (request objects, routing, exception layers) costs more than the rest of the work
for a 2 KB playlist, so such requests are answered from here. Anything else (a miss, a stale entry,
a range, a conditional, a token, a disk hit) falls through to the full handler in routes.py, which
implements the same semantics in general.

FreshHits decides and encodes, once for both ways in: FastHits, an ASGI middleware in front of the
framework, and cdn_edge.protocol, the edge's own HTTP protocol, which answers before any ASGI request
exists.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from cachetools import FIFOCache
from starlette.types import ASGIApp, Receive, Scope, Send

from cdn_edge.cache import Entry
from cdn_edge.cmcd import HEADER_PREFIX
from cdn_edge.qoe import Tracker
from cdn_edge.routes import Node
from httpsemantics.cors import CORS_HEADERS
from playback.access import ACCESS_HEADER, PUBLIC, SIGNED
from traffic.ratelimit import ClientBudget

# Request headers that need the general handler.
GENERAL = frozenset(
    (b"range", b"if-none-match", b"if-modified-since", b"if-match", b"if-unmodified-since", b"if-range")
)
# The node's own endpoints: answered by the app (/metrics checks its token there), never from the cache.
OWN_PATHS = frozenset(("/metrics", "/healthz", "/_purge", "/qoe"))
CMCD_QUERY = b"CMCD="
# Keys whose encoded headers are kept; the oldest encoded is dropped first. FIFO rather than LRU:
# a read is a plain lookup, where LRU reorders on every hit, and a dropped key costs one encoding.
MAX_ENCODED = 50_000


@dataclass(frozen=True)
class Encoded:
    """The response headers of a hit on `entry`, all but Age (and the server's Date and Server)."""

    entry: Entry
    headers: list[tuple[bytes, bytes]]
    block: bytes  # the same headers as HTTP/1.1 lines, each ending in CRLF


class FreshHits:
    """Which requests a fresh memory hit answers as is, and the metrics of those answers."""

    def __init__(self, node: Node, budget: ClientBudget | None = None, qoe: Tracker | None = None) -> None:
        self.node = node
        # Viewer QoE from CMCD (edges): taken off each request by take_cmcd before find() looks at it.
        self.qoe = qoe
        # Requests per client address; hits answered by cdn_edge.protocol spend it through admit(),
        # all others in the app's ClientRateLimit.
        self.budget = budget
        # Only the event loop touches it (FastHits and cdn_edge.protocol), so it needs no lock.
        self.encoded: FIFOCache[str, Encoded] = FIFOCache(maxsize=MAX_ENCODED)
        self.direct = 0  # answers given by cdn_edge.protocol rather than FastHits (tests, debugging)
        self.requests = node.metrics.requests.labels(node.name, "hit", "2xx")
        self.ttfb = node.metrics.ttfb.labels(node.name, "hit")
        self.bytes_served = node.metrics.bytes_served.labels(node.name, "hit")

    def find(
        self, method: str, path: str, query: bytes, headers: Iterable[tuple[bytes, bytes]]
    ) -> tuple[Encoded, bytes, int] | None:
        """(headers, body, Age in seconds) of the answer to this request head (`path` percent-decoded,
        header names lower-case), or None when the general handler must answer it."""
        if method not in ("GET", "HEAD") or query or path in OWN_PATHS:
            return None
        for name, _ in headers:
            if name in GENERAL:
                return None
        node = self.node
        key = path[1:]
        entry = node.cache.memory.entries.get(key)  # a peek: the policy hears of it only if we serve it
        if entry is None or entry.status != 200:
            return None
        age = entry.age(node.clock())
        access = entry.header(ACCESS_HEADER)
        # Signed objects need a token, or a 403 from an edge that cannot verify one (routes.py).
        needs_token = node.role == "edge" and access != PUBLIC and (node.secrets or access == SIGNED)
        if age >= entry.freshness.max_age or needs_token:
            return None
        found = node.cache.memory.get(key)
        if found is None or found[0] is not entry:
            return None
        return self._encode(key, entry), found[1], int(age)

    def take_cmcd(
        self, path: str, query: bytes, headers: list[tuple[bytes, bytes]], has_header: bool
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The request's query and headers without CMCD, which QoE observed: CMCD is never part of
        the cache key nor sent upstream, and a request whose only query is CMCD stays a fast hit."""
        if self.qoe is None or not (has_header or CMCD_QUERY in query):
            return query, headers
        return self.qoe.take(path, query, headers, has_header)

    def admit(self, peer: str | None, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        """Whether the client of a request from `peer` with these headers is within its budget (and
        spend one request of it); False: leave the request to the app, which answers 429."""
        if self.budget is None:
            return True
        proxies = self.node.proxies
        forwarded = [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for"] if proxies.networks else []
        return self.budget.admit(proxies.client_address(peer, forwarded) or "unknown")

    def served(self, head_only: bool, size: int, started: float) -> None:
        """Count an answer `find` allowed: `size` body bytes, `started` from time.perf_counter()."""
        self.requests.inc()
        self.ttfb.observe(time.perf_counter() - started)
        if not head_only:
            self.bytes_served.inc(size)

    def _encode(self, key: str, entry: Entry) -> Encoded:
        try:
            cached = self.encoded[key]  # [] rather than .get(): Cache.get costs two lookups
        except KeyError:
            pass
        else:
            if cached.entry is entry:
                return cached
        # Names are lower-case and values valid as stored (h11 rejected anything else upstream).
        headers = [(name.encode(), value.encode("latin-1")) for name, value in entry.headers]
        headers += [
            (b"content-length", str(entry.size).encode()),
            (b"accept-ranges", b"bytes"),
            (b"cache-status", f"{self.node.name}; hit".encode()),
            *CORS_HEADERS,
        ]
        encoded = Encoded(entry, headers, b"".join(b"%s: %s\r\n" % header for header in headers))
        self.encoded[key] = encoded
        return encoded


class FastHits:
    """ASGI middleware: FreshHits answers before the framework sees the request."""

    def __init__(self, app: ASGIApp, hits: FreshHits) -> None:
        self.app = app
        self.hits = hits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        hits = self.hits
        query, headers = scope["query_string"], scope["headers"]
        if hits.qoe is not None:  # cdn_edge.protocol took CMCD off already; plain uvicorn: here
            has_header = any(name.startswith(HEADER_PREFIX) for name, _ in headers)
            if has_header or CMCD_QUERY in query:
                query, headers = hits.take_cmcd(scope["path"], query, headers, has_header)
                scope = {**scope, "query_string": query, "headers": headers}
        found = hits.find(scope["method"], scope["path"], query, headers)
        if found is None:
            await self.app(scope, receive, send)
            return
        encoded, body, age = found
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*encoded.headers, (b"age", str(age).encode())]})  # fmt: skip
        head_only = scope["method"] == "HEAD"
        await send({"type": "http.response.body", "body": b"" if head_only else body})
        self.hits.served(head_only, len(body), started)
