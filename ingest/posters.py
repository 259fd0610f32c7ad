"""Creator posters: `PUT /assets/{id}/poster` (an image body) and `DELETE /assets/{id}/poster`.

The image is read (at most VODSTACK_POSTER_MAX_BYTES), made into variants by a sandboxed child
(media.poster_sandbox: metadata stripped, sRGB, sized JPEG/WebP/AVIF) and published under a versioned
key (ingest.poster_versions); only then does the asset point at it. The version it replaces is retired
and deleted by the ingest's cleanup a grace period later (VODSTACK_POSTER_RETIRE_GRACE_SECONDS).
`upload` scope; another owner's asset answers 404 like a missing one.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from starlette.concurrency import run_in_threadpool

from catalog.models import Asset, AssetState
from ingest.assets import ERROR_RESPONSES, NOT_FOUND, AssetOut, ErrorOut, to_out
from ingest.auth import Principal, audit
from ingest.deps import Ingest, IngestDep, bearer_scheme
from ingest.poster_versions import due as due_versions
from ingest.poster_versions import (
    replace,
    retired_list,
    retired_raw,
    variant_key,
    version_of,
    version_prefix,
)
from media.errors import InvalidMedia
from media.poster import CONTENT_TYPES, output_formats
from media.poster_sandbox import render_isolated

log = logging.getLogger(__name__)
router = APIRouter(dependencies=[Depends(bearer_scheme)], tags=["posters"])

# The child's refusal reason -> the status it is answered with.
REASON_STATUS = {"unsupported_type": 415, "wrong_type": 415, "not_image": 415, "too_many_pixels": 413}
IMAGE_BODY = {
    "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in CONTENT_TYPES},
    "description": "the image, with its Content-Type",
    "required": True,
}
REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "an empty body"},
    413: {"model": ErrorOut, "description": "over VODSTACK_POSTER_MAX_BYTES, or over its pixel limit"},
    415: {"model": ErrorOut, "description": "not a JPEG, PNG, WebP or HEIC image, or not of its Content-Type"},
    422: {"model": ErrorOut, "description": "a damaged or truncated image, or one that cannot be a poster"},
}
SAVED_TYPES = {"avif": "image/avif", "webp": "image/webp", "jpeg": "image/jpeg"}


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.code, "message": self.message}, self.status)


def _not_found(asset_id: str) -> JSONResponse:
    return Refused(404, "not_found", f"no asset {asset_id[:80]!r}").response()


def _render_slots(request: Request, slots: int) -> anyio.CapacityLimiter:
    """The app's limiter of poster children, made on first use (it needs the running event loop)."""
    limiter: anyio.CapacityLimiter | None = getattr(request.app.state, "poster_render_slots", None)
    if limiter is None:
        limiter = request.app.state.poster_render_slots = anyio.CapacityLimiter(max(1, slots))
    return limiter


def _owned(ingest: Ingest, principal: Principal, asset_id: str) -> bool:
    with ingest.catalog.session() as session:
        asset = session.get(Asset, asset_id)
        return asset is not None and principal.owns(asset.owner) and asset.state != AssetState.DELETED


def _content_type(request: Request) -> str:
    declared = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if declared not in CONTENT_TYPES:
        shown = declared[:80] or "none"
        raise Refused(415, "unsupported_media_type", f"a poster is a JPEG, PNG, WebP or HEIC image, not {shown!r}")
    return declared


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused past `limit` bytes as soon as it says or shows that it is larger."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, "too_large", f"the image is {int(declared):,} bytes; a poster may be {limit:,} at most")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, "too_large", f"the image is over {limit:,} bytes, the most a poster may be")
        chunks.append(chunk)
    if size == 0:
        raise Refused(400, "empty", "the body is empty: send the image itself")
    return b"".join(chunks)


def _render_and_adopt(ingest: Ingest, principal: Principal, asset_id: str, content_type: str, data: bytes) -> bool:
    """Blocking. Render the image in the sandbox, publish its variants and make it the asset's poster;
    False when the asset is not (or no longer) the caller's. InvalidMedia when the image is refused."""
    settings = ingest.settings.poster
    version = version_of(data, settings.widths, output_formats())
    with tempfile.TemporaryDirectory(prefix="vodstack-poster-") as tmp:
        source, out = Path(tmp) / "source", Path(tmp) / "out"
        source.write_bytes(data)
        out.mkdir()
        report = render_isolated(source, content_type, out, settings)
        log.info("poster %s of %s: %d variants, child peak %d KiB", version, asset_id, len(report.rendered.variants),
                 report.peak_rss_kib)  # fmt: skip
        with ingest.catalog.session() as session:
            # The row lock orders this against another PUT, a DELETE and the sweep of retired versions
            # (PostgreSQL; SQLite has one writer at a time): the objects go up while it is held, so a sweep
            # can never delete a version this very request makes current again.
            asset = session.get(Asset, asset_id, with_for_update=True)
            if asset is None or not principal.owns(asset.owner) or asset.state == AssetState.DELETED:
                return False
            bucket = ingest.settings.storage.media_bucket
            for variant in report.rendered.variants:
                key = variant_key(asset_id, version, variant.file)
                ingest.objects.put_file(bucket, key, out / variant.file, content_type=SAVED_TYPES[variant.format])
            current = asset.poster["version"] if asset.poster else None
            retired = replace(current, retired_list(asset.poster_retired), version, datetime.now(UTC))
            asset.poster = {
                "version": version,
                "source": {"format": report.rendered.source_format, "width": report.rendered.source_width,
                           "height": report.rendered.source_height},
                "variants": [
                    {"format": v.format, "width": v.width, "height": v.height, "file": v.file}
                    for v in report.rendered.variants
                ],
            }  # fmt: skip
            asset.poster_retired = retired_raw(retired)
    audit.info("poster of asset %s set to %s by key %r", asset_id, version, principal.key_name)
    return True


def _drop(ingest: Ingest, principal: Principal, asset_id: str) -> bool:
    """Blocking. Back to the generated poster; False when the asset is not the caller's."""
    with ingest.catalog.session() as session:
        asset = session.get(Asset, asset_id, with_for_update=True)
        if asset is None or not principal.owns(asset.owner) or asset.state == AssetState.DELETED:
            return False
        if asset.poster:
            retired = replace(asset.poster["version"], retired_list(asset.poster_retired), None, datetime.now(UTC))
            asset.poster, asset.poster_retired = None, retired_raw(retired)
            audit.info("poster of asset %s removed by key %r", asset_id, principal.key_name)
    return True


def _asset_out(ingest: Ingest, asset_id: str) -> AssetOut | None:
    with ingest.catalog.session() as session:
        asset = session.get(Asset, asset_id, options=[selectinload(Asset.renditions)])
        return None if asset is None else to_out(ingest, asset)


@router.put(
    "/assets/{asset_id}/poster",
    response_model=AssetOut,
    responses={**ERROR_RESPONSES, **NOT_FOUND, **REFUSALS},
    openapi_extra={"requestBody": IMAGE_BODY},
)
async def put_poster(asset_id: str, request: Request, ingest: IngestDep) -> Any:
    """Set the asset's poster from an image (JPEG, PNG, WebP, HEIC): its URLs change with every new image."""
    principal = await ingest.authenticate(request, "upload")
    try:
        content_type = _content_type(request)
        if not await run_in_threadpool(_owned, ingest, principal, asset_id):
            return _not_found(asset_id)
        data = await _body(request, ingest.settings.poster.max_bytes)
        # At most VODSTACK_POSTER_CONCURRENCY children at once: each may use up to its memory limit.
        limiter = _render_slots(request, ingest.settings.poster.concurrency)
        adopted = await anyio.to_thread.run_sync(
            _render_and_adopt, ingest, principal, asset_id, content_type, data, limiter=limiter
        )
        if not adopted:
            return _not_found(asset_id)
    except Refused as refused:
        return refused.response()
    except InvalidMedia as exc:
        return Refused(REASON_STATUS.get(exc.reason, 422), exc.reason, exc.message).response()
    found = await run_in_threadpool(_asset_out, ingest, asset_id)
    return _not_found(asset_id) if found is None else found


@router.delete("/assets/{asset_id}/poster", status_code=204, responses={**ERROR_RESPONSES, **NOT_FOUND})
async def delete_poster(asset_id: str, request: Request, ingest: IngestDep) -> Response:
    """Back to the generated poster (a no-op when the asset has none of its creator's)."""
    principal = await ingest.authenticate(request, "upload")
    if not await run_in_threadpool(_drop, ingest, principal, asset_id):
        return _not_found(asset_id)
    return Response(status_code=204)


def sweep_retired(ingest: Ingest, now: datetime | None = None) -> int:
    """Blocking, from the ingest's cleanup: delete the objects of poster versions retired longer than
    the grace period; how many versions were deleted."""
    now = now or datetime.now(UTC)
    grace = timedelta(seconds=ingest.settings.poster.retire_grace_seconds)
    bucket = ingest.settings.storage.media_bucket
    with ingest.catalog.session() as session:
        candidates = list(session.scalars(select(Asset.id).where(Asset.poster_retired.is_not(None))))
    swept = 0
    for asset_id in candidates:
        with ingest.catalog.session() as session:
            asset = session.get(Asset, asset_id, with_for_update=True)
            if asset is None:
                continue
            retired = retired_list(asset.poster_retired)
            current = asset.poster["version"] if asset.poster else None
            going = due_versions(retired, current, now, grace)
            for old in going:
                for info in list(ingest.objects.list(bucket, version_prefix(asset_id, old.version))):
                    ingest.objects.delete(bucket, info.key)
            staying = [r for r in retired if r not in going]
            asset.poster_retired = retired_raw(staying)
            swept += len(going)
    return swept
