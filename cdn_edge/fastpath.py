"""The hot path of a cache node, as a plain ASGI middleware in front of the framework.

Most requests to an edge are unconditional GETs of a fresh object held in memory. Routing them
through FastAPI (request objects, routing, exception layers) costs more than the rest of the work
for a 2 KB playlist, so such requests are answered here with pre-encoded headers. Anything else (a
miss, a stale entry, a range, a conditional, a token, a disk hit) falls through to the full handler
in routes.py, which implements the same semantics in general.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

from cdn_edge.cache import Entry
from cdn_edge.routes import Node
from origin.access import ACCESS_HEADER, PUBLIC
from origin.cors import CORS_HEADERS

# Request headers that need the general handler.
GENERAL = frozenset(
    (b"range", b"if-none-match", b"if-modified-since", b"if-match", b"if-unmodified-since", b"if-range")
)
MAX_ENCODED = 50_000


class FastHits:
    def __init__(self, app: ASGIApp, node: Node) -> None:
        self.app = app
        self.node = node
        self.encoded: dict[str, tuple[Entry, list[tuple[bytes, bytes]]]] = {}
        self.requests = node.metrics.requests.labels(node.name, "hit", "2xx")
        self.ttfb = node.metrics.ttfb.labels(node.name, "hit")
        self.bytes_served = node.metrics.bytes_served.labels(node.name, "hit")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or scope["query_string"]:
            await self.app(scope, receive, send)
            return
        for name, _ in scope["headers"]:
            if name in GENERAL:
                await self.app(scope, receive, send)
                return
        started = time.perf_counter()
        node = self.node
        key = scope["path"][1:]
        entry = node.cache.memory.entries.get(key)  # a peek: the policy hears of it only if we serve it
        if entry is None or entry.status != 200:
            await self.app(scope, receive, send)
            return
        age = entry.age(node.clock())
        needs_token = node.role == "edge" and node.secrets and entry.header(ACCESS_HEADER) != PUBLIC
        if age >= entry.freshness.max_age or needs_token:
            await self.app(scope, receive, send)
            return
        found = node.cache.memory.get(key)
        if found is None or found[0] is not entry:
            await self.app(scope, receive, send)
            return
        body = found[1]
        headers = self._headers(key, entry)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*headers, (b"age", str(int(age)).encode())]})  # fmt: skip
        head_only = scope["method"] == "HEAD"
        await send({"type": "http.response.body", "body": b"" if head_only else body})
        self.requests.inc()
        self.ttfb.observe(time.perf_counter() - started)
        if not head_only:
            self.bytes_served.inc(len(body))

    def _headers(self, key: str, entry: Entry) -> list[tuple[bytes, bytes]]:
        cached = self.encoded.get(key)
        if cached is not None and cached[0] is entry:
            return cached[1]
        headers = [(name.encode(), value.encode("latin-1")) for name, value in entry.headers]
        headers += [
            (b"content-length", str(entry.size).encode()),
            (b"accept-ranges", b"bytes"),
            (b"cache-status", f"{self.node.name}; hit".encode()),
            *CORS_HEADERS,
        ]
        if len(self.encoded) >= MAX_ENCODED:
            self.encoded.clear()
        self.encoded[key] = (entry, headers)
        return headers
