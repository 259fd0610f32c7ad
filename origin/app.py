"""The origin application: create_app(settings) wires store, routes, errors, CORS and metrics."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from catalog.session import Catalog
from httpsemantics.caching import Kind, not_found_cache_control
from httpsemantics.cors import CORSEverywhere
from httpsemantics.errors import HTTPSemanticsError, NotFound, RangeNotSatisfiable
from httpsemantics.ranges import unsatisfied_range
from images.errors import Busy, ImageError, RenderFailed
from images.errors import status_of as image_status
from images.published import Lookup
from images.published import catalog_lookup as image_catalog_lookup
from images.render import Gate, Renderer
from origin.errors import status_for
from origin.metrics import OriginMetrics
from origin.routes import OriginState, serve_object
from origin.settings import OriginSettings
from playback.access import AccessClassifier, catalog_lookup
from storage.errors import StorageError
from storage.factory import open_store
from storage.objects import ObjectStore
from tiering.index import TierIndex
from tiering.lifecycle import TieringCollector
from tiering.store import TieredObjectStore
from traffic.bearer import CHALLENGE, bearer_matches
from traffic.clients import TrustedProxies
from traffic.errors import TrafficError
from traffic.paths import PathGuard


def create_app(
    settings: OriginSettings,
    *,
    store: ObjectStore | None = None,
    clock: Callable[[], float] = time.time,
    image_lookup: Lookup | None = None,
) -> FastAPI:
    if store is None:
        store = open_store(settings.storage)
    if settings.tiering.enabled and not isinstance(store, TieredObjectStore):
        # The tier index lives in the catalog: every origin and the beat worker share it.
        index = TierIndex(Catalog(settings.catalog))
        store = TieredObjectStore(store, index, settings.tiering, settings.storage.media_bucket, clock)
    lookup = catalog_lookup(settings.catalog) if settings.access == "catalog" else None
    secret = settings.signing_secret.encode()
    state = OriginState(
        store=store,
        bucket=settings.storage.media_bucket,
        policy=settings.cache_policy(),
        access=AccessClassifier(settings.access, lookup, settings.access_cache_seconds),
        secrets=(secret,) if settings.verify_tokens and secret else (),
        metrics=OriginMetrics(),
        clock=clock,
        proxies=TrustedProxies(settings.trusted_proxies),
    )
    if isinstance(store, TieredObjectStore):
        state.metrics.registry.register(TieringCollector(store.index, store.settings))
    app = FastAPI(title="vodstack origin", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.origin = state
    images = settings.images
    app.state.image_renderer = Renderer(
        store, state.bucket, image_lookup or image_catalog_lookup(settings.catalog), images
    )
    app.state.image_gate = Gate(images.max_concurrent, images.retry_after)

    @app.exception_handler(ImageError)
    async def image_error(request: Request, exc: ImageError) -> Response:
        status = image_status(exc)
        headers = {"cache-control": "no-store"}
        if isinstance(exc, Busy | RenderFailed):
            headers["retry-after"] = str(exc.retry_after)
        state.metrics.requests.labels(Kind.IMAGE.value, str(status)).inc()
        return JSONResponse({"error": exc.code, "detail": str(exc)}, status_code=status, headers=headers)

    @app.exception_handler(HTTPSemanticsError)
    async def semantics_error(request: Request, exc: HTTPSemanticsError) -> Response:
        status = status_for(exc)
        headers = {"cache-control": "no-store"}
        if isinstance(exc, RangeNotSatisfiable):
            headers["content-range"] = unsatisfied_range(exc.size)
        if isinstance(exc, NotFound):
            headers["cache-control"] = not_found_cache_control(state.policy)
            state.metrics.requests.labels("unknown", "404").inc()
        return JSONResponse({"error": exc.code, "detail": str(exc)}, status_code=status, headers=headers)

    @app.exception_handler(TrafficError)
    async def refused(request: Request, exc: TrafficError) -> Response:
        state.metrics.requests.labels("unknown", str(exc.status)).inc()
        headers = {"cache-control": "no-store"}
        return JSONResponse({"error": exc.code, "detail": str(exc)}, status_code=exc.status, headers=headers)

    @app.exception_handler(StorageError)
    async def storage_error(request: Request, exc: StorageError) -> Response:
        # Tiering's ObjectArchived carries its own Retry-After (restore in progress).
        retry_after = getattr(exc, "retry_after", None) or settings.unavailable_retry_after
        headers = {"retry-after": str(int(retry_after)), "cache-control": "no-store"}
        code = getattr(exc, "code", "storage_unavailable")
        state.metrics.requests.labels("unknown", "503").inc()
        return JSONResponse({"error": code, "detail": str(exc)}, status_code=503, headers=headers)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        if not bearer_matches(request.headers.get("authorization"), settings.metrics_token):
            return Response(status_code=401, headers={"www-authenticate": CHALLENGE, "cache-control": "no-store"})
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/{key:path}", serve_object, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_middleware(PathGuard, on_refused=lambda status: state.metrics.requests.labels("unknown", str(status)).inc())
    app.add_middleware(CORSEverywhere)
    return app
