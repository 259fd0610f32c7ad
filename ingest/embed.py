"""What an embedded player may know about one asset, without an API key: GET /embeds/{asset_id}.

The embed page (`/embed/{asset_id}`, web/) runs on other people's sites, so it holds no key. A public
asset answers to anyone; a private one only with `?token=` a valid playback token for that asset (the
one the asset API put in its playback URLs, so the creator's embed snippet carries it and lives as long
as it does). Anything else (missing, deleted, private without a valid token) answers the same 404, so
the endpoint does not tell which private assets exist. The answer carries playback URLs freshly
signed for private assets, the title, state, duration and kind (video or audio-only, for the player's
layout): nothing about owners or sources.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import selectinload
from starlette.concurrency import run_in_threadpool

from catalog.models import Asset, AssetState
from ingest.assets import NOT_FOUND, PlaybackOut, to_out
from ingest.deps import Ingest, IngestDep
from playback.errors import TokenError
from playback.signing import verify_token

router = APIRouter()


class EmbedOut(BaseModel):
    id: str
    title: str | None
    state: str
    duration: float | None
    kind: str | None  # "video" | "audio" (an audio-only asset: the player's audio layout); None before probing
    playback: PlaybackOut


def may_embed(asset: Asset | None, secret: bytes, token: str | None, now: float) -> bool:
    """Pure rule: which assets the embed endpoint shows to a caller without a key."""
    if asset is None or asset.state == AssetState.DELETED:
        return False
    if asset.public or not secret:  # without a signing secret nothing is signed (origin access "public")
        return True
    try:
        verify_token(secret, token, asset.id, now=now)
    except TokenError:
        return False
    return True


def _load(ingest: Ingest, asset_id: str, token: str | None) -> EmbedOut | None:
    with ingest.catalog.session() as session:
        asset = session.get(Asset, asset_id, options=[selectinload(Asset.renditions)])
        if not may_embed(asset, ingest.settings.signing_secret.encode(), token, time.time()):
            return None
        assert asset is not None
        out = to_out(ingest, asset)
        return EmbedOut(
            id=out.id, title=out.title, state=out.state, duration=out.duration, kind=out.kind, playback=out.playback
        )


@router.get("/embeds/{asset_id}", response_model=EmbedOut, responses=NOT_FOUND)
async def embed_info(
    asset_id: str, request: Request, ingest: IngestDep, token: str | None = Query(None, max_length=256)
) -> Any:
    found = await run_in_threadpool(_load, ingest, asset_id[:64], token)
    if found is None:
        return JSONResponse(
            {"error": "not_found", "message": "no such video, or its embed link has expired"}, status_code=404
        )
    return found
