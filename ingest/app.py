"""Composition of the ingest service: the TUS endpoint, the asset API, /healthz and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware.cors import CORSMiddleware

from catalog.session import Catalog
from ingest import asset_changes, assets, captions_api, clips, embed, posters, routes
from ingest.allocator import keep_large_buffers_in_heap
from ingest.auth import KeyRing
from ingest.cleanup import cleanup_forever
from ingest.completion import Finisher
from ingest.deps import Ingest
from ingest.errors import LockUnavailable, TusError
from ingest.locks import make_locker
from ingest.metrics import IngestMetrics
from ingest.middleware import TusMiddleware
from ingest.ratelimit import IngestRateLimits, key_or_address, storage_url
from ingest.settings import IngestSettings, accepted_tokens
from ingest.store import UploadStore
from jobs.celery_app import make_celery
from storage.errors import StorageUnavailable
from storage.factory import open_store
from storage.objects import ObjectStore
from traffic.bearer import CHALLENGE, bearer_matches
from traffic.clients import TrustedProxies
from traffic.ratelimit import Limiter
from webhooks import api as webhooks_api

TUS_PREFIX = "/files"
# Headers a browser client must be able to send and read (tus-js-client, Uppy).
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Defer-Length",
    "Upload-Concat",
    "Upload-Checksum",
    "Tus-Resumable",
    "X-HTTP-Method-Override",
    "X-Requested-With",
]
CORS_EXPOSED_HEADERS = [
    "Location",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Defer-Length",
    "Upload-Concat",
    "Upload-Expires",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
    "Vodstack-Asset-Id",
    "Retry-After",
    "RateLimit-Policy",
    "RateLimit",
    "Link",
]


# Every operation but /healthz and /metrics may be refused by the rate limits (ingest/ratelimit.py).
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "over a rate limit; retry after Retry-After seconds",
        "headers": {
            "Retry-After": {"schema": {"type": "integer"}, "description": "seconds until the budget refills"},
            "RateLimit-Policy": {"schema": {"type": "string"}},
            "RateLimit": {"schema": {"type": "string"}},
        },
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
                    "required": ["error", "detail"],
                }
            }
        },
    }
}


def open_upload_store(settings: IngestSettings, objects: ObjectStore) -> UploadStore:
    if settings.storage.backend == "s3":
        from ingest.stores.s3 import S3UploadStore

        return S3UploadStore(
            objects,
            settings.storage.staging_bucket,
            scratch_dir=settings.spool_dir,
            max_size=settings.max_size,
            part_size=settings.s3_part_size,
            sweep_grace_seconds=settings.sweep_grace_seconds,
        )
    from ingest.stores.filesystem import FilesystemUploadStore

    return FilesystemUploadStore(settings.spool_dir, objects, sweep_grace_seconds=settings.sweep_grace_seconds)


def create_app(settings: IngestSettings, *, celery_app: Any = None) -> FastAPI:
    keep_large_buffers_in_heap()  # request bodies stream through large short-lived buffers
    catalog = Catalog(settings.catalog)
    objects = open_store(settings.storage)
    store = open_upload_store(settings, objects)
    metrics = IngestMetrics()
    ingest = Ingest(
        settings=settings,
        catalog=catalog,
        objects=objects,
        store=store,
        locker=make_locker(
            settings.lock_backend,
            catalog=catalog,
            redis_url=settings.redis_url,
            lease_seconds=settings.lock_lease_seconds,
            takeover_seconds=settings.lock_takeover_seconds,
        ),
        finisher=Finisher(
            catalog,
            store,
            objects,
            settings.storage.staging_bucket,
            probe=settings.probe if settings.probe_on_completion else None,
        ),
        metrics=metrics,
        keys=KeyRing(catalog, accepted_tokens(settings)),
        celery=celery_app if celery_app is not None else make_celery(settings.broker),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cleanup = None
        stopping = asyncio.Event()
        if settings.cleanup_interval_seconds > 0:
            cleanup = asyncio.create_task(cleanup_forever(ingest, settings.cleanup_interval_seconds, stopping))
        try:
            yield
        finally:
            if cleanup is not None:
                stopping.set()
                cleanup.cancel()
                await asyncio.wait([cleanup])
            await ingest.locker.backend.close()
            catalog.dispose()

    app = FastAPI(
        title="vodstack ingest", lifespan=lifespan, responses=RATE_LIMITED if settings.rate_limits_enabled else None
    )
    app.state.ingest = ingest
    app.include_router(routes.router)
    app.include_router(assets.router)
    app.include_router(asset_changes.router)
    app.include_router(posters.router)
    app.include_router(clips.router)
    app.include_router(embed.router)
    app.include_router(captions_api.router)
    app.include_router(webhooks_api.router)
    app.add_exception_handler(TusError, _error_handler)
    app.add_exception_handler(StorageUnavailable, _storage_unavailable)
    app.add_exception_handler(LockUnavailable, _lock_unavailable)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        if not bearer_matches(request.headers.get("authorization"), settings.metrics_token):
            return Response(status_code=401, headers={"WWW-Authenticate": CHALLENGE})
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if settings.rate_limits_enabled:
        # Inside TusMiddleware: methods already overridden, and a 429 still says Tus-Resumable.
        app.add_middleware(
            IngestRateLimits,
            limiter=Limiter(storage_url(settings.ratelimit, settings.lock_backend, settings.redis_url)),
            settings=settings.ratelimit,
            identify=key_or_address(ingest.keys, TrustedProxies(settings.trusted_proxies)),
            prefix=TUS_PREFIX,
        )
    # Outermost: CORS answers preflights before anything else; then method override and Tus-Resumable.
    app.add_middleware(TusMiddleware, prefix=TUS_PREFIX, metrics=metrics)
    if settings.cors_origins:
        # Only the listed origins, and no cookies: the API authenticates with the Authorization
        # header, which a page of another origin cannot read from this one's storage.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=["POST", "GET", "HEAD", "PATCH", "PUT", "DELETE", "OPTIONS"],
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=86400,
        )
    return app


def _error_handler(request: Request, exc: Exception) -> Response:
    """TUS answers in plain text (what TUS clients show); the asset API in JSON."""
    if request.url.path.startswith(TUS_PREFIX) or not isinstance(exc, TusError):
        return routes.tus_error_handler(request, exc)
    headers = {"Cache-Control": "no-store"}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="vodstack-ingest"'
    return JSONResponse({"error": exc.code.replace("-", "_"), "message": exc.message}, exc.status, headers=headers)


async def _storage_unavailable(request: Request, exc: Exception) -> Response:
    return _error_handler(request, TusError("storage-unavailable", str(exc)))


async def _lock_unavailable(request: Request, exc: Exception) -> Response:
    return _error_handler(request, TusError("lock-unavailable", str(exc)))
