"""`GET /assets/{id}/clip`: the HLS and DASH URLs of a time range of a ready asset (instant clips).

The URLs are the asset's playlist and MPD with the canonical range in the query (playback.clips);
the edge and origin serve them cut to that range, segment-accurate, with nothing re-encoded. When
playback URLs are signed (a non-public asset, or `bind=true`), they carry a token; with `bind=true`
the token plays that range only: another range or the whole asset answers 403.

A key with `read` sees its owner's assets only; another owner's asset answers 404 like a missing one.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from catalog.models import Asset, AssetState
from ingest.assets import ERROR_RESPONSES, NOT_FOUND, ErrorOut
from ingest.auth import Principal
from ingest.deps import Ingest, IngestDep, bearer_scheme
from playback.clips import END_PARAM, START_PARAM, ClipRange, parse_clip
from playback.errors import ClipError
from playback.signing import sign_token

router = APIRouter(dependencies=[Depends(bearer_scheme)])

EXAMPLE: dict[str, Any] = {
    "hls": "https://edge.example/6f1c.../a1/master.m3u8?start=12&end=47&token=v2.1767225600.a.12000-47000.Qm9...",
    "dash": "https://edge.example/6f1c.../a1/manifest.mpd?start=12&end=47&token=v2.1767225600.a.12000-47000.Qm9...",
    "start": 12.0,
    "end": 47.0,
    "bound": True,
    "expires_at": 1767225600,
}


class ClipOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE]})

    hls: str = Field(description="multivariant playlist of the range; every media playlist it lists is cut alike")
    dash: str | None = Field(description="MPD of the range (None when the asset has no MPD)")
    start: float = Field(description="requested start, seconds; the clip starts at the segment containing it")
    end: float = Field(description="requested end clamped to the asset's duration, seconds")
    bound: bool = Field(description="the token plays this range only")
    expires_at: int | None = Field(description="expiry of the token (Unix seconds); None when unsigned")


CLIP_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    **NOT_FOUND,
    400: {"model": ErrorOut, "description": "not a range of this asset, or bind=true where URLs are not signed"},
    409: {"model": ErrorOut, "description": "the asset is not ready (clips are cut from a ready asset)"},
}


class Refusal(Exception):
    """A clip this asset cannot have: rendered as {"error", "message"} with `status`."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def _clip(ingest: Ingest, principal: Principal, asset_id: str, clip: ClipRange, bind: bool) -> ClipOut | None:
    with ingest.catalog.session() as session:
        asset = session.get(Asset, asset_id)
        if asset is None or asset.state == AssetState.DELETED or not principal.owns(asset.owner):
            return None
        if asset.state != AssetState.READY or not asset.master_key:
            raise Refusal(409, "clip_not_ready", f"the asset is {asset.state}: a clip can be cut once it is ready")
        duration = asset.duration or 0.0
        if clip.start_ms / 1000 >= duration:
            raise Refusal(400, "clip_outside_media", f"start is past the end of the asset ({duration:.3f} s)")
        end_ms = min(clip.end_ms if clip.end_ms is not None else 10**12, int(duration * 1000))
        query = clip.query()
        secret = ingest.settings.signing_secret.encode()
        expires_at: int | None = None
        if bind and not secret:
            raise Refusal(400, "signing_disabled", "playback URLs are not signed here: a range cannot be bound")
        if bind or (not asset.public and secret):
            expires_at = int(time.time()) + ingest.settings.playback_token_seconds
            token = sign_token(secret, asset.id, expires_at, clip=clip if bind else None)
            query += f"&token={token}"
        base = ingest.settings.playback_base_url.rstrip("/")
        return ClipOut(
            hls=f"{base}/{asset.master_key}?{query}",
            dash=f"{base}/{asset.dash_key}?{query}" if asset.dash_key else None,
            start=clip.start_ms / 1000,
            end=end_ms / 1000,
            bound=bind,
            expires_at=expires_at,
        )


@router.get("/assets/{asset_id}/clip", response_model=ClipOut, responses=CLIP_ERRORS)
async def clip_urls(
    asset_id: str,
    request: Request,
    ingest: IngestDep,
    start: str = Query(description="seconds from the start of the asset, e.g. 12 or 12.5", examples=["12"]),
    end: str | None = Query(None, description="seconds; past the asset's end: to its end", examples=["47"]),
    bind: bool = Query(False, description="sign a token that plays this range only"),
) -> Any:
    principal = await ingest.authenticate(request, "read")
    try:
        clip = parse_clip({START_PARAM: start, **({END_PARAM: end} if end is not None else {})}) or ClipRange(0, None)
        found = await run_in_threadpool(_clip, ingest, principal, asset_id, clip, bind)
    except ClipError as exc:
        return JSONResponse({"error": exc.code, "message": str(exc)}, status_code=400)
    except Refusal as exc:
        return JSONResponse({"error": exc.error, "message": exc.message}, status_code=exc.status)
    if found is None:
        return JSONResponse({"error": "not_found", "message": f"no asset {asset_id[:80]!r}"}, status_code=404)
    return found
