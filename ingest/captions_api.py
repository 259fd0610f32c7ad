"""The caption API of an asset: `PUT /assets/{id}/captions/{lang}`, `GET /assets/{id}/captions`,
`DELETE /assets/{id}/captions/{lang}`, and `GET`/`PUT /assets/{id}/caption-settings` (`{"generate": bool}`:
captions generated from speech, on by default where the workers have a model).

PUT takes the WebVTT or SRT file as the body (any Content-Type but JSON), with label, kind
(captions|subtitles), default and forced as query parameters; or a JSON envelope
`{"content": "...", "label": ..., "kind": ..., "default": ..., "forced": ...}`. The file is checked
(captions.cues: a 422 naming the line at fault, 413 past the limits), stored normalised to WebVTT, and
published at once on a ready asset (before that, the job publishes it with the ladder). Scope `upload`
to change, `read` to list; another owner's asset answers 404 like a missing one.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from captions import library
from captions.cues import Limits, parse
from captions.errors import CaptionError, CaptionsTooLarge
from captions.publish import MediaBucket, republish
from captions.tracks import UPLOADED, canonical_language, track_options
from ingest.assets import ERROR_RESPONSES, NOT_FOUND, ErrorOut
from ingest.auth import Principal
from ingest.deps import Ingest, IngestDep, bearer_scheme
from jobs.celery_app import enqueue_speech_captions
from manifests.errors import ManifestError
from storage.errors import StorageError

router = APIRouter(dependencies=[Depends(bearer_scheme)])

LIMITS = Limits()
INVALID: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "the asset failed to transcode"},
    413: {"model": ErrorOut, "description": "over the size, cue-count or line-length limits"},
    422: {"model": ErrorOut, "description": "not valid WebVTT or SRT (the message names the line), or a bad tag"},
}


class TrackOut(BaseModel):
    id: str
    language: str
    source: str  # "upload", "embedded-<stream>", "generated"
    label: str
    kind: str
    default: bool
    forced: bool
    version: int
    cues: int
    published: bool  # listed in the asset's manifests (False until the asset is ready)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


async def _owned(ingest: Ingest, principal: Principal, asset_id: str) -> bool:
    exists, owner = await run_in_threadpool(library.owner_of, ingest.catalog, asset_id)
    return exists and principal.owns(owner)


async def _body(request: Request) -> bytes:
    """The request body, refused past the size limit without reading it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > LIMITS.max_bytes + 4096:
        raise CaptionsTooLarge(f"the file has {declared} bytes; at most {LIMITS.max_bytes} are accepted")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > LIMITS.max_bytes * 2:  # a JSON envelope escapes some characters
            raise CaptionsTooLarge(f"the body is over {LIMITS.max_bytes * 2} bytes")
    return bytes(data)


def _envelope(data: bytes) -> tuple[bytes, dict[str, Any]]:
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CaptionError(f"the JSON envelope does not parse: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("content"), str):
        raise CaptionError('the JSON envelope must be an object with "content": the WebVTT or SRT text')
    fields = {k: body.get(k) for k in ("label", "kind", "default", "forced")}
    if any(fields[k] is not None and not isinstance(fields[k], bool) for k in ("default", "forced")):
        raise CaptionError('"default" and "forced" must be true or false')
    if any(fields[k] is not None and not isinstance(fields[k], str) for k in ("label", "kind")):
        raise CaptionError('"label" and "kind" must be strings')
    return body["content"].encode(), fields


def _publish(ingest: Ingest, asset_id: str) -> None:
    republish(ingest.catalog, MediaBucket(ingest.objects, ingest.settings.storage.media_bucket), asset_id)


@router.put(
    "/assets/{asset_id}/captions/{language}",
    response_model=TrackOut,
    status_code=201,
    responses={**ERROR_RESPONSES, **NOT_FOUND, **INVALID, 200: {"model": TrackOut, "description": "replaced"}},
)
async def put_captions(
    asset_id: str,
    language: str,
    request: Request,
    ingest: IngestDep,
    label: str | None = Query(None),
    kind: str | None = Query(None),
    default: bool = Query(False),
    forced: bool = Query(False),
) -> Any:
    principal = await ingest.authenticate(request, "upload")
    if not await _owned(ingest, principal, asset_id):
        return _error(404, "not_found", f"no asset {asset_id[:80]!r}")
    try:
        tag = canonical_language(language)
        data = await _body(request)
        fields: dict[str, Any] = {"label": label, "kind": kind, "default": default, "forced": forced}
        if (request.headers.get("content-type") or "").split(";")[0].strip().lower() == "application/json":
            data, envelope = _envelope(data)
            fields |= {k: v for k, v in envelope.items() if v is not None}
        options = track_options(
            tag, label=fields["label"], kind=fields["kind"], default=fields["default"], forced=fields["forced"]
        )
        cues = await run_in_threadpool(parse, data, LIMITS)
        track, created = await run_in_threadpool(library.save, ingest.catalog, asset_id, tag, UPLOADED, options, cues)
    except CaptionError as exc:
        return _error(exc.status, exc.code, exc.message)
    except library.AssetGone:
        return _error(404, "not_found", f"no asset {asset_id[:80]!r}")
    except library.AssetFailed as exc:
        return _error(409, "asset_failed", str(exc))
    published = await _republish(ingest, asset_id)
    if published is not None:
        return published
    tracks = await run_in_threadpool(library.listing, ingest.catalog, asset_id)
    current = next((t for t in tracks if t.id == track.id), track)
    return JSONResponse(TrackOut(**current.__dict__).model_dump(), status_code=201 if created else 200)


async def _republish(ingest: Ingest, asset_id: str) -> JSONResponse | None:
    try:
        await run_in_threadpool(_publish, ingest, asset_id)
    except StorageError as exc:
        # The track is saved: the next change or a new job publishes it.
        return _error(503, "storage_unavailable", f"saved, but not yet published: {exc}")
    except ManifestError as exc:  # a bug of ours: the published manifests are left as they were
        return _error(500, "not_published", f"saved, but the manifests with it failed validation: {exc}")
    return None


@router.get("/assets/{asset_id}/captions", response_model=list[TrackOut], responses={**ERROR_RESPONSES, **NOT_FOUND})
async def list_captions(asset_id: str, request: Request, ingest: IngestDep) -> Any:
    principal = await ingest.authenticate(request, "read")
    if not await _owned(ingest, principal, asset_id):
        return _error(404, "not_found", f"no asset {asset_id[:80]!r}")
    tracks = await run_in_threadpool(library.listing, ingest.catalog, asset_id)
    return [TrackOut(**t.__dict__) for t in tracks]


@router.delete(
    "/assets/{asset_id}/captions/{language}", status_code=204, responses={**ERROR_RESPONSES, **NOT_FOUND, **INVALID}
)
async def delete_captions(
    asset_id: str,
    language: str,
    request: Request,
    ingest: IngestDep,
    source: str = Query(UPLOADED, max_length=32, description="upload (default), embedded-<stream>, generated"),
) -> Response:
    principal = await ingest.authenticate(request, "upload")
    if not await _owned(ingest, principal, asset_id):
        return _error(404, "not_found", f"no asset {asset_id[:80]!r}")
    try:
        tag = canonical_language(language)
        removed = await run_in_threadpool(library.delete, ingest.catalog, asset_id, tag, source)
    except CaptionError as exc:
        return _error(exc.status, exc.code, exc.message)
    except library.AssetGone:
        return _error(404, "not_found", f"no asset {asset_id[:80]!r}")
    if not removed:
        return _error(404, "not_found", f"asset {asset_id[:80]!r} has no {source[:32]} captions in {tag!r}")
    published = await _republish(ingest, asset_id)
    return published or Response(status_code=204)


class CaptionSettingsBody(BaseModel):
    generate: bool  # a track generated from speech once the ladder is ready


@router.get(
    "/assets/{asset_id}/caption-settings",
    response_model=CaptionSettingsBody,
    responses={**ERROR_RESPONSES, **NOT_FOUND},
)
async def get_caption_settings(asset_id: str, request: Request, ingest: IngestDep) -> Any:
    principal = await ingest.authenticate(request, "read")
    if not await _owned(ingest, principal, asset_id):
        return _error(404, "not_found", f"no asset {asset_id[:80]!r}")
    return CaptionSettingsBody(generate=await run_in_threadpool(library.generate_setting, ingest.catalog, asset_id))


@router.put(
    "/assets/{asset_id}/caption-settings",
    response_model=CaptionSettingsBody,
    responses={**ERROR_RESPONSES, **NOT_FOUND},
)
async def put_caption_settings(asset_id: str, body: CaptionSettingsBody, request: Request, ingest: IngestDep) -> Any:
    principal = await ingest.authenticate(request, "upload")
    if not await _owned(ingest, principal, asset_id):
        return _error(404, "not_found", f"no asset {asset_id[:80]!r}")
    try:
        ready = await run_in_threadpool(library.set_generate, ingest.catalog, asset_id, body.generate)
    except library.AssetGone:
        return _error(404, "not_found", f"no asset {asset_id[:80]!r}")
    if ready and body.generate:
        # Turned on after the job: a worker generates it now (nothing happens without a model, or twice).
        await run_in_threadpool(enqueue_speech_captions, ingest.celery, asset_id)
    return body
