"""The asset API: what became of an upload (state, progress, error, renditions, playback URLs).

Every route needs a key: `read` to list and read, `upload` to delete. A key sees its owner's assets
only (admin keys: all); another owner's asset answers 404 like a missing one.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from starlette.concurrency import run_in_threadpool

from captions import library as captions
from catalog.models import Asset, AssetState
from ingest.auth import Principal, audit
from ingest.deps import Ingest, IngestDep, bearer_scheme
from playback.signing import sign_token
from webhooks import events, outbox

router = APIRouter(dependencies=[Depends(bearer_scheme)])


class RenditionOut(BaseModel):
    name: str
    kind: str
    width: int | None
    height: int | None
    bandwidth: int | None
    average_bandwidth: int | None
    codecs: str | None


class PlaybackOut(BaseModel):
    hls: str | None
    dash: str | None
    # Published with the complete ladder (None until the asset is ready).
    poster: str | None = None
    storyboard: str | None = None  # WebVTT map into the storyboard sprite, for scrubbing previews


class ErrorOut(BaseModel):
    error: str
    message: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no valid key"},
    403: {"model": ErrorOut, "description": "the key lacks the scope"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no such asset of the key's owner"}
}


class AssetOut(BaseModel):
    id: str
    state: str
    title: str | None
    progress: float
    speed: float | None
    eta_seconds: float | None
    error: str | None
    duration: float | None
    width: int | None
    height: int | None
    created_at: datetime
    ready_at: datetime | None
    # When the lowest rung became playable (progressive publish), before the ladder was complete.
    first_playable_at: datetime | None = None
    renditions: list[RenditionOut]
    playback: PlaybackOut


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def playback_url(ingest: Ingest, asset: Asset, key: str | None) -> str | None:
    if not key or asset.state == AssetState.DELETED:
        return None
    url = f"{ingest.settings.playback_base_url.rstrip('/')}/{key}"
    secret = ingest.settings.signing_secret.encode()
    if not asset.public and secret:
        expires_at = int(time.time()) + ingest.settings.playback_token_seconds
        url += f"?token={sign_token(secret, asset.id, expires_at)}"
    return url


def to_out(ingest: Ingest, asset: Asset) -> AssetOut:
    ready = asset.state == AssetState.READY
    # Previews sit beside the master playlist (under the prefix of the attempt that published it).
    folder = asset.master_key.rpartition("/")[0] if asset.master_key else asset.id
    return AssetOut(
        id=asset.id,
        state=asset.state,
        title=asset.title,
        progress=asset.progress or 0.0,
        speed=asset.speed,
        eta_seconds=asset.eta_seconds,
        error=asset.error,
        duration=asset.duration,
        width=asset.width,
        height=asset.height,
        created_at=_utc(asset.created_at) or datetime.now(UTC),
        ready_at=_utc(asset.ready_at),
        first_playable_at=_utc(asset.first_playable_at),
        renditions=[
            RenditionOut(
                name=r.name,
                kind=r.kind,
                width=r.width,
                height=r.height,
                bandwidth=r.bandwidth,
                average_bandwidth=r.average_bandwidth,
                codecs=r.codecs,
            )
            for r in asset.renditions
        ],
        playback=PlaybackOut(
            hls=playback_url(ingest, asset, asset.master_key),
            dash=playback_url(ingest, asset, asset.dash_key),
            poster=playback_url(ingest, asset, f"{folder}/poster.jpg" if ready else None),
            storyboard=playback_url(ingest, asset, f"{folder}/storyboard.vtt" if ready else None),
        ),
    )


def _not_found(asset_id: str) -> JSONResponse:
    return JSONResponse({"error": "not_found", "message": f"no asset {asset_id[:80]!r}"}, status_code=404)


def _load_many(ingest: Ingest, principal: Principal, limit: int) -> list[AssetOut]:
    query = select(Asset).where(Asset.state != AssetState.DELETED)
    if not principal.admin:
        query = query.where(Asset.owner == principal.owner)
    with ingest.catalog.session() as session:
        assets = session.scalars(
            query.options(selectinload(Asset.renditions)).order_by(Asset.created_at.desc(), Asset.id).limit(limit)
        ).all()
        return [to_out(ingest, asset) for asset in assets]


def _load_one(ingest: Ingest, principal: Principal, asset_id: str) -> AssetOut | None:
    with ingest.catalog.session() as session:
        asset = session.get(Asset, asset_id, options=[selectinload(Asset.renditions)])
        return None if asset is None or not principal.owns(asset.owner) else to_out(ingest, asset)


def _delete(ingest: Ingest, principal: Principal, asset_id: str) -> bool:
    with ingest.catalog.session() as session:
        asset = session.get(Asset, asset_id)
        if asset is None or not principal.owns(asset.owner):
            return False
        audit.info(
            "delete asset %s of %s by key %r%s",
            asset_id,
            asset.owner or "(no owner)",
            principal.key_name,
            " (admin)" if principal.admin else "",
        )
        asset.state = AssetState.DELETED
        captions.forget(session, asset_id)
        outbox.record_asset(session, asset, events.ASSET_DELETED)
        staging_key = asset.staging_key
    # Marked deleted first: the origin stops serving it even if removing objects takes a while.
    storage = ingest.settings.storage
    for info in list(ingest.objects.list(storage.media_bucket, f"{asset_id}/")):
        ingest.objects.delete(storage.media_bucket, info.key)
    if staging_key:
        ingest.objects.delete(storage.staging_bucket, staging_key)
    return True


@router.get("/assets", response_model=list[AssetOut], responses=ERROR_RESPONSES)
async def list_assets(request: Request, ingest: IngestDep, limit: int = Query(50, ge=1, le=500)) -> Any:
    principal = await ingest.authenticate(request, "read")
    return await run_in_threadpool(_load_many, ingest, principal, limit)


@router.get("/assets/{asset_id}", response_model=AssetOut, responses={**ERROR_RESPONSES, **NOT_FOUND})
async def get_asset(asset_id: str, request: Request, ingest: IngestDep) -> Any:
    principal = await ingest.authenticate(request, "read")
    found = await run_in_threadpool(_load_one, ingest, principal, asset_id)
    return _not_found(asset_id) if found is None else found


@router.delete("/assets/{asset_id}", status_code=204, responses={**ERROR_RESPONSES, **NOT_FOUND})
async def delete_asset(asset_id: str, request: Request, ingest: IngestDep) -> Response:
    principal = await ingest.authenticate(request, "upload")
    if not await run_in_threadpool(_delete, ingest, principal, asset_id):
        return _not_found(asset_id)
    return Response(status_code=204)
