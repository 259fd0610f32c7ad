"""A cache node: create_app(settings) builds an edge or the shield (same code, `settings.role`)."""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cdn_edge.beacon import MAX_BEACON_BYTES, parse_beacon
from cdn_edge.cache import DiskTier, MemoryTier, TieredCache
from cdn_edge.collapse import Collapser
from cdn_edge.errors import (
    BeaconDisabled,
    BeaconInvalid,
    BeaconLimited,
    BeaconTooLarge,
    EdgeError,
    PurgeDisabled,
    PurgeUnauthorized,
    status_for,
)
from cdn_edge.eviction import make_policy
from cdn_edge.fastpath import FastHits, FreshHits
from cdn_edge.fill import Filler
from cdn_edge.metrics import EdgeMetrics
from cdn_edge.qoe import QoeMetrics, create_tracker
from cdn_edge.routes import Node, client_ip, serve_object
from cdn_edge.settings import EdgeSettings
from cdn_edge.upstream import Upstream
from httpsemantics.cors import CORS_HEADERS, CORSEverywhere
from httpsemantics.errors import HTTPSemanticsError, RangeNotSatisfiable
from httpsemantics.ranges import unsatisfied_range
from httpsemantics.variants import variants_prefix
from traffic.bearer import CHALLENGE, bearer_matches
from traffic.clients import TrustedProxies
from traffic.errors import TrafficError
from traffic.paths import PathGuard
from traffic.ratelimit import ClientBudget, ClientRateLimit, Policy


class PurgeRequest(BaseModel):
    # Exact keys ("{asset}/360p/index.m3u8") and key prefixes ("{asset}/" purges a whole asset).
    keys: list[str] = []
    prefixes: list[str] = []


def build_node(
    settings: EdgeSettings, transport: httpx.AsyncBaseTransport | None, clock: Callable[[], float]
) -> tuple[Node, Upstream]:
    has_disk = settings.disk_budget_bytes > 0 and settings.disk_dir is not None
    metrics = EdgeMetrics(settings.name, ("memory", "disk") if has_disk else ("memory",))

    def on_evict(tier: str) -> None:
        metrics.evictions.labels(settings.name, tier).inc()

    memory = MemoryTier(
        settings.memory_budget_bytes, make_policy(settings.eviction, settings.memory_budget_bytes), on_evict
    )
    disk = None
    if has_disk and settings.disk_dir is not None:
        policy = make_policy(settings.eviction, settings.disk_budget_bytes)
        disk = DiskTier(settings.disk_dir, settings.disk_budget_bytes, policy, on_evict)
    cache = TieredCache(memory, disk, settings.memory_max_object_bytes)
    collapser = Collapser()
    upstream = Upstream(settings, clock, transport)
    filler = Filler(
        cache, collapser, upstream, metrics, clock, settings.negative_ttl, settings.unavailable_ttl,
        spool_dir=settings.spool_dir(), max_fills=settings.max_concurrent_fills,
    )  # fmt: skip
    node = Node(
        settings.name, settings.role, cache, collapser, filler, metrics, clock,
        settings.secrets(), TrustedProxies(settings.trusted_proxies), settings.purge_token,
    )  # fmt: skip
    return node, upstream


def create_app(
    settings: EdgeSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    node, upstream = build_node(settings, transport, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        for task in list(node.tasks):
            task.cancel()
        await upstream.aclose()

    app = FastAPI(title=f"vodstack {settings.role} {settings.name}", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)  # fmt: skip
    app.state.node = node
    app.state.upstream = upstream
    budget = (
        ClientBudget(Policy.parse("edge", settings.rate_limit_per_client)) if settings.rate_limit_per_client else None
    )
    qoe = None
    if settings.role == "edge" and settings.qoe_enabled:
        qoe = create_tracker(
            QoeMetrics(node.name, node.metrics.registry), node.clock, implementation=settings.qoe_implementation,
            ttl=settings.qoe_session_ttl_seconds, max_sessions=settings.qoe_max_sessions,
            sample_one_in=settings.qoe_sample_one_in,
        )  # fmt: skip
    beacon_budget = ClientBudget(Policy.parse("qoe", settings.qoe_beacon_rate))
    app.state.qoe = qoe
    app.state.hits = hits = FreshHits(node, budget, qoe)  # shared by FastHits and cdn_edge.protocol

    @app.exception_handler(HTTPSemanticsError)
    async def semantics_error(request: Request, exc: HTTPSemanticsError) -> Response:
        headers = {"cache-control": "no-store"}
        if isinstance(exc, RangeNotSatisfiable):
            headers["content-range"] = unsatisfied_range(exc.size)
        node.metrics.answered("error", status_for(exc))
        return JSONResponse({"error": exc.code, "detail": str(exc)}, status_code=status_for(exc), headers=headers)

    @app.exception_handler(EdgeError)
    async def edge_error(request: Request, exc: EdgeError) -> Response:
        headers = {"cache-control": "no-store", "cache-status": f"{node.name}; fwd=miss; detail={exc.code}"}
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            headers["retry-after"] = str(max(1, round(retry_after)))
        node.metrics.answered("error", status_for(exc))
        return JSONResponse({"error": exc.code, "detail": str(exc)}, status_code=status_for(exc), headers=headers)

    @app.exception_handler(TrafficError)
    async def refused(request: Request, exc: TrafficError) -> Response:
        # The client's doing: answered here, never sent upstream, never counted by the breaker.
        node.metrics.answered("error", exc.status)
        headers = {"cache-control": "no-store", "cache-status": f"{node.name}; detail={exc.code}"}
        return JSONResponse({"error": exc.code, "detail": str(exc)}, status_code=exc.status, headers=headers)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "node": node.name, "role": node.role}

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        if not bearer_matches(request.headers.get("authorization"), settings.metrics_token):
            return Response(status_code=401, headers={"www-authenticate": CHALLENGE, "cache-control": "no-store"})
        m = node.metrics
        for tier in node.cache.tiers:
            m.cache_bytes.labels(node.name, tier.name).set(tier.used)
            m.cache_budget.labels(node.name, tier.name).set(tier.budget)
            m.cache_objects.labels(node.name, tier.name).set(len(tier))
        m.breaker_open.labels(node.name).set(1 if upstream.circuit_open else 0)
        if qoe is not None:
            qoe.flush()  # accumulated counts, and sessions that ended since the last scrape
        return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/qoe", status_code=204)
    async def qoe_beacon(request: Request) -> Response:
        """The player's beacon (cdn_edge/beacon.py): its startup time, or a fatal error."""
        if qoe is None:
            raise BeaconDisabled("this node does not track viewer QoE")
        outcomes = qoe.metrics.beacons
        client = client_ip(request, node.proxies) or "unknown"
        if not beacon_budget.admit(client):
            outcomes.labels(node.name, "limited").inc()
            raise BeaconLimited(beacon_budget.refusal(client).reset_after)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BEACON_BYTES:
            outcomes.labels(node.name, "invalid").inc()
            raise BeaconTooLarge(f"a beacon is at most {MAX_BEACON_BYTES} bytes")
        body = bytearray()
        async for chunk in request.stream():  # chunked bodies too: never more than the bound in memory
            body += chunk
            if len(body) > MAX_BEACON_BYTES:
                outcomes.labels(node.name, "invalid").inc()
                raise BeaconTooLarge(f"a beacon is at most {MAX_BEACON_BYTES} bytes")
        try:
            beacon = parse_beacon(bytes(body))
        except BeaconInvalid:
            outcomes.labels(node.name, "invalid").inc()
            raise
        startup = beacon.startup_ms / 1000 if beacon.startup_ms is not None else None
        qoe.beacon(beacon.sid, beacon.event, startup)
        outcomes.labels(node.name, "accepted").inc()
        return Response(status_code=204, headers={"cache-control": "no-store"})

    @app.post("/_purge")
    async def purge(body: PurgeRequest, request: Request) -> dict[str, int]:
        """Remove objects now; a fetch in flight for them is not stored. Purge the shield before its edges."""
        if not node.purge_token:
            raise PurgeDisabled("purging is not configured on this node")
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), node.purge_token.encode()):
            raise PurgeUnauthorized("bad purge token")
        prefixes = [p for p in body.prefixes if p]  # an empty prefix would empty the cache: not by accident
        prefixes += [variants_prefix(k) for k in body.keys if k]  # a playlist's clips, an image's sizes
        # Fetches in flight first: a write racing this purge then either sees the flag or gets removed.
        for key in body.keys:
            node.collapser.discard(key)
        for prefix in prefixes:
            node.collapser.discard_prefix(prefix)

        def purge_tiers() -> int:  # blocking: file removals under the disk tier's lock
            return sum(node.cache.purge(key) for key in body.keys) + sum(map(node.cache.purge_prefix, prefixes))

        removed = await run_in_threadpool(purge_tiers)
        node.metrics.purged.labels(node.name).inc(removed)
        return {"purged": removed}

    app.add_api_route("/{key:path}", serve_object, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_middleware(PathGuard, on_refused=lambda status: node.metrics.answered("error", status))
    app.add_middleware(CORSEverywhere)
    app.add_middleware(FastHits, hits=hits)  # it adds the CORS headers itself
    if hits.budget is not None:  # outermost: every request counts, hits included
        app.add_middleware(
            ClientRateLimit, budget=hits.budget, proxies=node.proxies, exempt=("/healthz", "/metrics"),
            extra_headers=CORS_HEADERS,
        )  # fmt: skip
    return app


def server_options(app: Starlette) -> dict[str, Any]:
    """Keyword arguments for uvicorn.run / uvicorn.Config serving `app` (from create_app): the edge's
    own HTTP protocol (cdn_edge.protocol), which answers fresh memory hits itself. Without httptools
    there is none: uvicorn's standard protocol, and FastHits still answers those hits in the app."""
    try:
        from cdn_edge.protocol import edge_protocol
    except ImportError:
        return {}
    return {"http": edge_protocol(app.state.hits)}
