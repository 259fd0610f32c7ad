"""The asset API: what became of an upload (state, progress, error, renditions, playback URLs).

Every route needs a key: `read` to list and read, `upload` to delete. A key sees its owner's assets
only (admin keys: all); another owner's asset answers 404 like a missing one. GET /assets pages with
an opaque cursor (asset_query.py), named in the `Link: <...>; rel="next"` header (the body stays the
list). Editing and importing from a URL: asset_changes.py.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import object_session, selectinload
from starlette.concurrency import run_in_threadpool

from captions import library as captions
from catalog.models import Asset, AssetState, Upload
from ingest.asset_query import MAX_SEARCH_LENGTH, AssetFilter, Position, decode_cursor, encode_cursor, list_query
from ingest.auth import Principal, audit
from ingest.deps import Ingest, IngestDep, bearer_scheme
from ingest.errors import TusError
from ingest.poster_versions import variant_key
from ingest.purging import purge_now, record_purge
from ingest.queue_position import queue_position
from media.colour import ColourInfo
from playback.signing import sign_token
from webhooks import events, outbox

# Published beside the master of an audio-only asset (transcoder.encode.commands.WAVEFORM_NAME; the ingest
# does not import the transcoder, tests/ingest/test_audio_only_api.py holds the two equal).
WAVEFORM_FILE = "waveform.png"

router = APIRouter(dependencies=[Depends(bearer_scheme)])


_FAMILIES = {"avc1": "h264", "avc3": "h264", "av01": "av1", "hvc1": "hevc", "hev1": "hevc", "vp09": "vp9"}


def codec_family(codecs: str | None) -> str | None:
    """The video codec of an RFC 6381 codecs string ("avc1.64001f" -> "h264"); None when unknown."""
    return _FAMILIES.get((codecs or "").split(".", 1)[0])


class RenditionOut(BaseModel):
    name: str
    kind: str
    width: int | None
    height: int | None
    bandwidth: int | None
    average_bandwidth: int | None
    codecs: str | None
    # The codec family of a video rendition, from its codecs: "h264", "av1", "hevc"; None for audio.
    codec: str | None = None
    # Content-aware ladders: the VMAF step the rung was chosen for (None: the best the source allows, or
    # the fixed ladder) and the VMAF its samples measured at its size and bit rate.
    target_vmaf: float | None = None
    sampled_vmaf: float | None = None


class PosterOut(BaseModel):
    url: str
    format: str  # "avif", "webp" or "jpeg"
    width: int
    height: int


class LoudnessOut(BaseModel):
    integrated: float | None  # LUFS; None: silence
    true_peak: float | None  # dBTP
    lra: float | None  # LU


class AudioTrackOut(BaseModel):
    name: str  # rendition id
    language: str  # BCP 47
    label: str
    channels: int
    default: bool
    role: str  # main | alternate | commentary | description
    # EBU R128: the source track as uploaded, and the published rendition.
    normalised: bool
    input_loudness: LoudnessOut | None
    output_loudness: LoudnessOut | None


class PlaybackOut(BaseModel):
    hls: str | None
    dash: str | None
    # The creator's poster (its JPEG nearest 640 wide) when there is one (PUT /assets/{id}/poster), else
    # the generated one, published with the complete ladder (None until the asset is ready).
    poster: str | None = None
    # The creator's poster in every format and width, for <picture>/srcset ([]: none, the generated one).
    posters: list[PosterOut] = []
    storyboard: str | None = None  # WebVTT map into the storyboard sprite, for scrubbing previews (video only)
    # An audio-only asset's picture: its default track drawn as a waveform (PNG, 1280x240), published with
    # the ladder; it is also the `poster` unless the creator set one. None for a video.
    waveform: str | None = None


class DownloadOut(BaseModel):
    """A static file to download (MP4 of a rung, M4A of the audio), remuxed from the published streams."""

    name: str  # the file name browsers save it under (Content-Disposition)
    kind: str  # "video" (MP4, with the audio) | "audio" (M4A)
    url: str | None
    size: int  # bytes
    duration: float  # seconds
    width: int | None = None
    height: int | None = None


class SourceColourOut(BaseModel):
    """The original's colour as probed (media.colour): an HDR one was tone-mapped to BT.709 for the ladder."""

    hdr: str | None  # "pq", "hlg" or None (SDR)
    primaries: str | None
    transfer: str | None
    bit_depth: int
    dolby_vision: bool
    hdr10_plus: bool


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


EXAMPLE_ID = "8ced296ad491490bb88a2bb69b774945"
AssetId = Annotated[str, Path(max_length=64, examples=[EXAMPLE_ID])]
EXAMPLE_ASSET: dict[str, Any] = {
    "id": EXAMPLE_ID,
    "state": "ready",
    "title": "Keynote",
    "description": "Opening talk",
    "tags": ["keynote", "2026"],
    "visibility": "public",
    "source_url": None,
    "kind": "video",
    "progress": 1.0,
    "speed": None,
    "eta_seconds": None,
    "error": None,
    "duration": 47.5,
    "width": 1920,
    "height": 1080,
    "created_at": "2026-03-01T12:00:00Z",
    "ready_at": "2026-03-01T12:01:10Z",
    "first_playable_at": "2026-03-01T12:00:20Z",
    "renditions": [
        {
            "name": "1080p",
            "kind": "video",
            "width": 1920,
            "height": 1080,
            "bandwidth": 6_000_000,
            "average_bandwidth": 4_800_000,
            "codecs": "avc1.640028",
            "codec": "h264",
        }
    ],
    "playback": {
        "hls": f"https://edge.example/{EXAMPLE_ID}/a1/master.m3u8",
        "dash": f"https://edge.example/{EXAMPLE_ID}/a1/manifest.mpd",
        "poster": f"https://edge.example/{EXAMPLE_ID}/a1/poster.jpg",
        "storyboard": f"https://edge.example/{EXAMPLE_ID}/a1/storyboard.vtt",
        "waveform": None,
    },
}


class AssetOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_ASSET]})

    id: str
    state: str
    title: str | None
    description: str | None = None
    tags: list[str] = []
    visibility: str = "public"  # "public" or "private" (playback URLs then carry a signed token)
    source_url: str | None = None  # imported assets: where the original came from
    # "video", or "audio" for a source without video (an audio-only ladder, a waveform instead of a poster
    # and previews, no video renditions or MP4 downloads); None until a worker has probed the original.
    kind: str | None = None
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
    # Published with the complete ladder; empty when downloads are off for the asset.
    downloads: list[DownloadOut] = []
    source_colour: SourceColourOut | None = None  # once the original was probed by the transcoder
    # Every published audio track with its measured loudness (empty until ready, or without audio).
    audio_tracks: list[AudioTrackOut] = []
    # Whether the audio is normalised to the target loudness: None follows the workers' setting.
    loudnorm: bool | None = None
    owner: str | None = None  # the principal whose key created it (admin keys see every owner's)
    size: int | None = None  # bytes of the original, as declared by its upload
    queue_position: int | None = None  # queued: 1 is the next job a free worker takes


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


def creator_posters(ingest: Ingest, asset: Asset) -> list[PosterOut]:
    """The URLs of the creator's current poster version, every variant (none while there is none)."""
    if not asset.poster:
        return []
    version = asset.poster["version"]
    posters = []
    for variant in asset.poster["variants"]:
        url = playback_url(ingest, asset, variant_key(asset.id, version, variant["file"]))
        if url is not None:
            posters.append(
                PosterOut(url=url, format=variant["format"], width=variant["width"], height=variant["height"])
            )
    return posters


def _main_poster(posters: list[PosterOut]) -> str | None:
    """The one poster URL for clients that take one: JPEG (decoded everywhere), the width nearest 640."""
    jpegs = [p for p in posters if p.format == "jpeg"]
    return min(jpegs, key=lambda p: (abs(p.width - 640), p.width)).url if jpegs else None


def _upload_of(asset: Asset) -> Upload | None:
    session = object_session(asset)
    return session.get(Upload, asset.upload_id) if session is not None and asset.upload_id else None


def _position(asset: Asset) -> int | None:
    session = object_session(asset)
    return queue_position(session, asset.id) if session is not None and asset.state == AssetState.QUEUED else None


def to_out(ingest: Ingest, asset: Asset) -> AssetOut:
    ready = asset.state == AssetState.READY
    upload = _upload_of(asset)
    progress = asset.progress or 0.0
    if asset.state == AssetState.UPLOADING and upload is not None and upload.length:
        progress = upload.offset / upload.length  # the bytes received: what the uploader's own bar shows
    # Previews sit beside the master playlist (under the prefix of the attempt that published it).
    folder = asset.master_key.rpartition("/")[0] if asset.master_key else asset.id
    posters = creator_posters(ingest, asset)
    kind = asset_kind(asset.probe)
    picture = f"{folder}/{WAVEFORM_FILE if kind == 'audio' else 'poster.jpg'}" if ready else None
    return AssetOut(
        id=asset.id,
        state=asset.state,
        title=asset.title,
        description=asset.description,
        tags=[str(tag) for tag in asset.tags or []],
        visibility="public" if asset.public else "private",
        source_url=asset.source_url,
        kind=kind,
        progress=progress,
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
                codec=codec_family(r.codecs) if r.kind == "video" else None,
                target_vmaf=r.target_vmaf,
                sampled_vmaf=r.sampled_vmaf,
            )
            for r in asset.renditions
        ],
        audio_tracks=[AudioTrackOut.model_validate(t) for t in asset.audio_tracks or []],
        loudnorm=asset.loudnorm,
        playback=PlaybackOut(
            hls=playback_url(ingest, asset, asset.master_key),
            dash=playback_url(ingest, asset, asset.dash_key),
            # A creator's poster takes precedence over the generated one.
            poster=_main_poster(posters) or playback_url(ingest, asset, picture),
            posters=posters,
            storyboard=playback_url(ingest, asset, f"{folder}/storyboard.vtt" if ready and kind != "audio" else None),
            waveform=playback_url(ingest, asset, picture) if kind == "audio" else None,
        ),
        downloads=[
            DownloadOut(
                name=d["name"],
                kind=d["kind"],
                url=playback_url(ingest, asset, d["key"]),
                size=d["size"],
                duration=d["duration"],
                width=d.get("width"),
                height=d.get("height"),
            )
            for d in (asset.downloads or [])
            if ready
        ],
        source_colour=_source_colour(asset.probe),
        owner=asset.owner,
        size=upload.length if upload is not None else None,
        queue_position=_position(asset),
    )


def asset_kind(probe: dict[str, Any] | None) -> str | None:
    """ "audio" when the probed original has no video (media.probe.MediaInfo.video is None), "video" when it
    has, None before any probe."""
    if not probe:
        return None
    return "audio" if probe.get("video") is None else "video"


def _source_colour(probe: dict[str, Any] | None) -> SourceColourOut | None:
    colour = ((probe or {}).get("video") or {}).get("colour")
    if not isinstance(colour, dict):
        return None
    transfer = colour.get("transfer")
    return SourceColourOut(
        hdr=ColourInfo(transfer=transfer).hdr,
        primaries=colour.get("primaries"),
        transfer=transfer,
        bit_depth=int(colour.get("bit_depth") or 8),
        dolby_vision=bool(colour.get("dolby_vision")),
        hdr10_plus=bool(colour.get("hdr10_plus")),
    )


def not_found(asset_id: str) -> JSONResponse:
    return JSONResponse({"error": "not_found", "message": f"no asset {asset_id[:80]!r}"}, status_code=404)


def _load_page(
    ingest: Ingest, flt: AssetFilter, after: Position | None, limit: int
) -> tuple[list[AssetOut], Position | None]:
    """One page, and the position to continue from (None: this was the last page)."""
    dialect = ingest.catalog.engine.dialect.name
    with ingest.catalog.session() as session:
        query = list_query(flt, after, limit + 1, dialect=dialect).options(selectinload(Asset.renditions))
        assets = session.scalars(query).all()
        page = [to_out(ingest, asset) for asset in assets[:limit]]
        more = len(assets) > limit
        last = assets[limit - 1] if more else None
        return page, (Position(_utc(last.created_at) or datetime.now(UTC), last.id) if last else None)


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
        # With the deletion: a committed deletion always has its purge, retried until every node confirmed.
        purge_id = record_purge(session, ingest.settings, asset_id)
        staging_key = asset.staging_key
    # Marked deleted first: the origin stops serving it even if removing objects takes a while.
    storage = ingest.settings.storage
    for info in list(ingest.objects.list(storage.media_bucket, f"{asset_id}/")):
        ingest.objects.delete(storage.media_bucket, info.key)
    if staging_key:
        ingest.objects.delete(storage.staging_bucket, staging_key)
    # The caches last: purged before the objects were gone, an edge could refill from the origin.
    purge_now(ingest.settings, ingest.catalog, purge_id)
    return True


LISTABLE_STATES = tuple(s for s in vars(AssetState).values() if isinstance(s, str) and s != AssetState.DELETED)
LIST_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    200: {
        "description": "one page of assets, newest first",
        "headers": {
            "Link": {
                "schema": {"type": "string"},
                "description": 'the next page, when there is one: `<.../assets?cursor=...>; rel="next"`',
            }
        },
    },
    400: {"model": ErrorOut, "description": "a cursor this server did not make, or a filter it cannot apply"},
}


@router.get("/assets", response_model=list[AssetOut], responses=LIST_RESPONSES)
async def list_assets(
    request: Request,
    response: Response,
    ingest: IngestDep,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=512, description="from the previous page's Link header"),
    state: str | None = Query(None, description=f"one of {', '.join(LISTABLE_STATES)}", examples=["ready"]),
    created_after: Annotated[datetime | None, Query(examples=["2026-01-01T00:00:00Z"])] = None,
    created_before: Annotated[datetime | None, Query(examples=["2026-12-31T00:00:00Z"])] = None,
    owner: str | None = Query(None, max_length=128, description="admin keys only: one owner's assets"),
    q: str | None = Query(
        None,
        max_length=MAX_SEARCH_LENGTH,
        description="assets whose title or description contains this text (any case; % and _ match themselves)",
        examples=["holiday"],
    ),
) -> Any:
    principal = await ingest.authenticate(request, "read")
    if state is not None and state not in LISTABLE_STATES:
        raise TusError("invalid-filter", f"state must be one of {', '.join(LISTABLE_STATES)}")
    if owner is not None and not principal.admin and owner != principal.owner:
        raise TusError("forbidden", "only admin keys list other owners' assets")
    if q is not None and not q.isprintable():  # PostgreSQL refuses NUL in text: a 500 if passed on
        raise TusError("invalid-filter", "q must be printable text (no control characters)")
    flt = AssetFilter(
        state=state,
        created_after=created_after,
        created_before=created_before,
        owner=owner if principal.admin else principal.owner,
        search=q.strip() if q else None,  # a cleared search box sends q=: every asset
    )
    after = decode_cursor(cursor) if cursor else None
    page, last = await run_in_threadpool(_load_page, ingest, flt, after, limit)
    if last is not None:
        here = request.url.include_query_params(cursor=encode_cursor(last))
        next_url = str(here)
        if ingest.settings.public_url:  # behind a proxy: the address clients use, as for TUS Location
            next_url = f"{ingest.settings.public_url.rstrip('/')}{here.path}?{here.query}"
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return page


@router.get("/assets/{asset_id}", response_model=AssetOut, responses={**ERROR_RESPONSES, **NOT_FOUND})
async def get_asset(asset_id: AssetId, request: Request, ingest: IngestDep) -> Any:
    principal = await ingest.authenticate(request, "read")
    found = await run_in_threadpool(_load_one, ingest, principal, asset_id)
    return not_found(asset_id) if found is None else found


@router.delete("/assets/{asset_id}", status_code=204, responses={**ERROR_RESPONSES, **NOT_FOUND})
async def delete_asset(asset_id: AssetId, request: Request, ingest: IngestDep) -> Response:
    principal = await ingest.authenticate(request, "upload")
    if not await run_in_threadpool(_delete, ingest, principal, asset_id):
        return not_found(asset_id)
    return Response(status_code=204)
