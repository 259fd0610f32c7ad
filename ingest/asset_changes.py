"""Changing assets through the API: PATCH /assets/{id} (title, description, tags, visibility) and
POST /assets (import from a URL: the download runs on a worker, importer/).

`upload` scope for both; another owner's asset answers 404 like a missing one.
"""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import unquote

import httpx
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import selectinload
from starlette.concurrency import run_in_threadpool

from catalog.models import Asset, AssetState
from egress.errors import TargetRefused
from egress.targets import MAX_URL_LENGTH, resolve_target
from ingest.asset_edit import MAX_TITLE, AssetPatch
from ingest.assets import ERROR_RESPONSES, NOT_FOUND, AssetId, AssetOut, ErrorOut, not_found, to_out
from ingest.auth import Principal
from ingest.deps import Ingest, IngestDep, bearer_scheme
from ingest.errors import TusError
from ingest.purging import purge_now, record_purge
from jobs.celery_app import enqueue_import
from webhooks import events, outbox

router = APIRouter(dependencies=[Depends(bearer_scheme)])


class ImportIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"source_url": "https://media.example.com/videos/keynote.mp4"}]},
    )

    source_url: str = Field(
        min_length=1, max_length=MAX_URL_LENGTH, examples=["https://media.example.com/videos/keynote.mp4"]
    )
    # Default: the last segment of the URL's path.
    title: str | None = Field(default=None, min_length=1, max_length=MAX_TITLE, examples=["Keynote"])


def _title_of(url: str) -> str | None:
    name = posixpath.basename(unquote(httpx.URL(url).path))
    return name[:MAX_TITLE] or None


def _create_import(ingest: Ingest, principal: Principal, body: ImportIn) -> AssetOut:
    with ingest.catalog.session() as session:
        asset = Asset(
            state=AssetState.IMPORTING,
            title=body.title or _title_of(body.source_url),
            source_url=body.source_url,
            owner=principal.owner,
        )
        session.add(asset)
        session.flush()
        # The same first event as an upload's: the asset exists (its data says "importing").
        outbox.record_asset(session, asset, events.ASSET_CREATED)
        return to_out(ingest, asset)


@router.post(
    "/assets",
    status_code=202,
    response_model=AssetOut,
    responses={**ERROR_RESPONSES, 400: {"model": ErrorOut, "description": "a URL that may not be imported"}},
)
async def import_asset(body: ImportIn, request: Request, ingest: IngestDep) -> Any:
    """Import a video from an http(s) URL: answered at once (state "importing"); a worker downloads it
    (size and time limits, resumed with Range) and it goes through the same checks and transcode as an
    upload. Follow GET /assets/{id} or the webhooks; a source that cannot be used fails the asset with
    its reason."""
    principal = await ingest.authenticate(request, "upload")
    try:
        # Refused now when it can be (scheme, private address); the worker checks again at every hop.
        await run_in_threadpool(
            resolve_target, body.source_url, allow_private=ingest.settings.imports.allow_private_sources
        )
    except TargetRefused as exc:
        raise TusError("source-refused", f"the source URL is refused: {exc}") from None
    created = await run_in_threadpool(_create_import, ingest, principal, body)
    # After the commit: a worker never sees an asset the catalog does not have.
    await run_in_threadpool(enqueue_import, ingest.celery, created.id)
    return created


def _patch(ingest: Ingest, principal: Principal, asset_id: str, patch: AssetPatch) -> AssetOut | None:
    purge_id = None
    with ingest.catalog.session() as session:
        asset = session.get(Asset, asset_id, options=[selectinload(Asset.renditions)])
        if asset is None or asset.state == AssetState.DELETED or not principal.owns(asset.owner):
            return None
        fields = patch.model_fields_set
        if "title" in fields:
            asset.title = patch.title
        if "description" in fields:
            asset.description = patch.description
        if "tags" in fields:
            asset.tags = list(patch.tags or [])
        if "visibility" in fields:
            private = patch.visibility == "private"
            if private and asset.public:
                # Caches may hold its objects from when it was public: they must ask again (with a token).
                purge_id = record_purge(session, ingest.settings, asset_id)
            asset.public = not private
        out = to_out(ingest, asset)
    purge_now(ingest.settings, ingest.catalog, purge_id)
    return out


@router.patch(
    "/assets/{asset_id}",
    response_model=AssetOut,
    responses={**ERROR_RESPONSES, **NOT_FOUND},
)
async def edit_asset(asset_id: AssetId, patch: AssetPatch, request: Request, ingest: IngestDep) -> Any:
    """Change the title, description, tags or visibility; fields left out stay as they are."""
    principal = await ingest.authenticate(request, "upload")
    found = await run_in_threadpool(_patch, ingest, principal, asset_id, patch)
    return not_found(asset_id) if found is None else found
