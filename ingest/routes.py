"""The TUS 1.0.0 endpoint: POST /files/ creates, /files/{id} answers HEAD, PATCH, DELETE and OPTIONS.

Handlers only orchestrate: header grammar is in protocol.py, admission in admission.py, storage behind
the UploadStore port, the completion transaction in completion.py. Errors are TusError, rendered by
`tus_error_handler`.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from catalog.models import UploadState
from ingest.admission import admit
from ingest.auth import Principal, audit
from ingest.completion import check_partials
from ingest.deps import Ingest, IngestDep, bearer_scheme
from ingest.errors import TUS_ERRORS, TusError
from ingest.locks import Lease
from ingest.protocol import (
    CHECKSUM_ALGORITHMS,
    EXTENSIONS,
    OFFSET_CONTENT_TYPE,
    TUS_VERSION,
    Checksum,
    check_upload_id,
    check_version,
    format_expires,
    format_metadata,
    parse_checksum,
    parse_concat,
    parse_defer_length,
    parse_length,
    parse_metadata,
    parse_offset,
)
from ingest.receive import body_is_empty, receive_body
from ingest.store import UploadInfo
from ingest.uploads import create_upload, end_upload, forget_upload, get_upload, get_uploads, record_progress

router = APIRouter()
# The asset an upload becomes; exposed to browsers by the CORS middleware.
ASSET_HEADER = "Vodstack-Asset-Id"


# For the OpenAPI document: a TUS error is a short text/plain reason (codes and statuses: errors.py).
TUS_ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"description": "refused (TUS error)", "content": {"text/plain": {"schema": {"type": "string"}}}}
    for status in sorted({status for status, _ in TUS_ERRORS.values()})
}
# Every route but OPTIONS (discovery) needs a key: declared for the document, checked by the handler.
NO_BODY: dict[str, object] = {
    "response_class": Response,
    "responses": TUS_ERROR_RESPONSES,
    "dependencies": [Depends(bearer_scheme)],
}


def tus_error_handler(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, TusError):
        raise exc
    headers = {"Cache-Control": "no-store"}
    if exc.status == 412:
        headers["Tus-Version"] = TUS_VERSION
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="vodstack-ingest"'
    return PlainTextResponse(f"{exc.message}\n", status_code=exc.status, headers=headers)


def _expiry(ingest: Ingest) -> timedelta:
    return timedelta(seconds=ingest.settings.upload_expiry_seconds)


def _location(ingest: Ingest, request: Request, upload_id: str) -> str:
    base = ingest.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{base}/files/{upload_id}"


async def _admit_request(ingest: Ingest, request: Request) -> Principal:
    check_version(request.headers.get("tus-resumable"))
    return await ingest.authenticate(request, "upload")


async def _load(ingest: Ingest, upload_id: str, principal: Principal) -> UploadInfo:
    check_upload_id(upload_id)
    upload = await run_in_threadpool(get_upload, ingest.catalog, upload_id)
    # Someone else's upload is answered exactly like a missing one: ids do not leak.
    if upload is None or upload.state == UploadState.TERMINATED or not principal.owns(upload.owner):
        raise TusError("not-found", f"no upload {upload_id}")
    expired = upload.expires_at is not None and upload.expires_at < datetime.now(UTC)
    if upload.state == UploadState.EXPIRED or (upload.state == UploadState.OPEN and expired):
        raise TusError("gone", f"upload {upload_id} expired; start a new upload")
    return upload


async def _stored_offset(ingest: Ingest, upload: UploadInfo) -> int:
    if upload.state == UploadState.COMPLETE:
        return upload.length or 0
    return await run_in_threadpool(ingest.store.offset, upload, ingest.settings.storage.staging_bucket)


async def _append(
    ingest: Ingest,
    request: Request,
    upload: UploadInfo,
    offset: int,
    checksum: Checksum | None,
    lease: Lease,
) -> tuple[int, datetime]:
    """Store the request body at `offset`; return the new offset and the new expiry. A body that would
    run past Upload-Length (or Tus-Max-Size) is refused whole: not one byte of it is kept."""
    limit = (upload.length if upload.length is not None else ingest.settings.max_size) - offset
    limit_error = "exceeds-length" if upload.length is not None else "too-large"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TusError(limit_error)
    # A body of unknown length (chunked) may turn out too long only at its end: its bytes are staged and
    # kept only once it ended within the limit, as a checksummed chunk's are once verified.
    verify = checksum is not None or not declared.isdigit()
    writer = await run_in_threadpool(ingest.store.writer, upload, offset, verify=verify)
    ingest.metrics.active.inc()
    try:
        result = await receive_body(
            request, writer, limit=limit, limit_error=limit_error, checksum=checksum, stop=lease.stop
        )
    except Exception:
        await run_in_threadpool(writer.discard)
        raise
    finally:
        ingest.metrics.active.dec()
    ingest.metrics.bytes_received.inc(result.received)
    new_offset = offset if result.offset is None else result.offset
    expires = await run_in_threadpool(
        record_progress,
        ingest.catalog,
        upload.id,
        offset=new_offset,
        length=upload.length,
        expiry=_expiry(ingest),
    )
    return new_offset, expires


async def _check_parts_owned(ingest: Ingest, principal: Principal, parts: tuple[str, ...]) -> None:
    """A final upload may only join the caller's own partials (others' answer as unknown ones do)."""
    found = await run_in_threadpool(get_uploads, ingest.catalog, parts)
    for pid in parts:
        if pid in found and not principal.owns(found[pid].owner):
            raise TusError("invalid-concat", f"{pid} is not a partial upload of this server")


@router.options("/files/", status_code=204, response_class=Response)
@router.options("/files/{upload_id}", status_code=204, response_class=Response)
async def options(ingest: IngestDep) -> Response:
    headers = {
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": ",".join(EXTENSIONS),
        "Tus-Max-Size": str(ingest.settings.max_size),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
    }
    return Response(status_code=204, headers=headers)


@router.post("/files/", status_code=201, **NO_BODY)  # type: ignore[arg-type]
@router.post("/files", include_in_schema=False)
async def create(request: Request, ingest: IngestDep) -> Response:
    principal = await _admit_request(ingest, request)
    h = request.headers
    concat = parse_concat(h.get("upload-concat"))
    meta = parse_metadata(h.get("upload-metadata"))
    deferred = parse_defer_length(h.get("upload-defer-length"))
    length: int | None
    if concat is not None and concat.kind == "final":
        await _check_parts_owned(ingest, principal, concat.parts)
        length = await run_in_threadpool(check_partials, ingest.catalog, concat.parts)
    elif "upload-length" in h:
        if deferred:
            raise TusError("invalid-length", "send either Upload-Length or Upload-Defer-Length, not both")
        length = parse_length(h["upload-length"])
    elif deferred:
        length = None
    else:
        raise TusError("missing-length")
    if length is not None and length > ingest.settings.max_size:
        raise TusError("too-large", f"Upload-Length {length} exceeds Tus-Max-Size {ingest.settings.max_size}")
    if concat is None or concat.kind == "final":
        admit(meta)

    upload_id = uuid.uuid4().hex
    store_state: dict[str, object] = {}
    if concat is None or concat.kind == "partial":
        # A final upload is assembled from its partials in one go: it needs no storage of its own.
        key = f"{'partials' if concat is not None else 'originals'}/{upload_id}"
        store_state = await run_in_threadpool(ingest.store.create, upload_id, key, length)
    upload = await run_in_threadpool(
        lambda: create_upload(
            ingest.catalog,
            upload_id,
            length=length,
            meta=meta,
            concat=concat.kind if concat else None,
            parts=concat.parts if concat else (),
            store_state=store_state,
            expiry=_expiry(ingest),
            owner=principal.owner,
        )
    )
    ingest.metrics.uploads.labels("created").inc()
    headers = {"Location": _location(ingest, request, upload_id)}
    if upload.asset_id:
        # Not part of TUS: tells clients which asset to follow (GET /assets/{id}).
        headers[ASSET_HEADER] = upload.asset_id
    offset = 0
    expires = upload.expires_at
    # Nobody knows the new URL yet, but the cleanup may look at the upload while it is assembled.
    async with ingest.locker.hold(upload_id) as lease:
        if concat is not None and concat.kind == "final":
            await ingest.complete(upload, final=True)
            offset = length or 0
        else:
            if h.get("content-type") == OFFSET_CONTENT_TYPE:
                # creation-with-upload: the body is the first chunk.
                checksum = parse_checksum(h.get("upload-checksum"))
                offset, expires = await _append(ingest, request, upload, 0, checksum, lease)
                headers["Upload-Offset"] = str(offset)
            if length is not None and offset == length:
                await ingest.complete(upload)
    if expires is not None and offset != length:
        headers["Upload-Expires"] = format_expires(expires)
    return Response(status_code=201, headers=headers)


@router.head("/files/{upload_id}", status_code=200, **NO_BODY)  # type: ignore[arg-type]
async def head(upload_id: str, request: Request, ingest: IngestDep) -> Response:
    principal = await _admit_request(ingest, request)
    upload = await _load(ingest, upload_id, principal)
    # Like tusd, HEAD takes the lock: a PATCH still holding it (a stalled connection the client gave up
    # on) commits what it received and hands over, so the offset answered is the one to resume from.
    async with ingest.locker.hold(upload.id):
        upload = await _load(ingest, upload_id, principal)
        offset = await _stored_offset(ingest, upload)
        final = upload.concat == "final"
        if upload.state == UploadState.OPEN and (final or (upload.length is not None and offset == upload.length)):
            # Every byte is stored (a final upload: its partials are) but completion never ran, or
            # died half-way (the process was killed in between): run it now.
            await ingest.complete(upload, final=final)
            offset = upload.length or 0
    headers = {"Upload-Offset": str(offset), "Cache-Control": "no-store"}
    if upload.asset_id:
        headers[ASSET_HEADER] = upload.asset_id
    if upload.length is None:
        headers["Upload-Defer-Length"] = "1"
    else:
        headers["Upload-Length"] = str(upload.length)
    if upload.meta:
        headers["Upload-Metadata"] = format_metadata(upload.meta)
    if upload.concat == "partial":
        headers["Upload-Concat"] = "partial"
    elif upload.concat == "final":
        parts = " ".join(f"/files/{pid}" for pid in upload.concat_parts)
        headers["Upload-Concat"] = f"final;{parts}"
    if upload.state == UploadState.OPEN and upload.expires_at is not None:
        headers["Upload-Expires"] = format_expires(upload.expires_at)
    return Response(status_code=200, headers=headers)


async def _patch_completed(request: Request, upload: UploadInfo, offset: int) -> Response:
    if offset != upload.length:
        raise TusError("offset-mismatch", f"upload is complete at offset {upload.length}")
    if not await body_is_empty(request):
        # tusd answers 204 here and drops the bytes; a client sending more than it declared must
        # hear that they were not taken.
        raise TusError("upload-complete")
    # An empty PATCH at the end (a client checking after a lost answer): 204, no second job.
    return Response(status_code=204, headers={"Upload-Offset": str(offset)})


@router.patch("/files/{upload_id}", status_code=204, **NO_BODY)  # type: ignore[arg-type]
async def patch(upload_id: str, request: Request, ingest: IngestDep) -> Response:
    principal = await _admit_request(ingest, request)
    h = request.headers
    if h.get("content-type", "").split(";")[0].strip().lower() != OFFSET_CONTENT_TYPE:
        raise TusError("invalid-content-type")
    upload = await _load(ingest, upload_id, principal)
    if upload.concat == "final":
        raise TusError("modify-final")
    offset = parse_offset(h.get("upload-offset"))
    checksum = parse_checksum(h.get("upload-checksum"))
    new_length = parse_length(h["upload-length"]) if "upload-length" in h else None
    if new_length is not None and new_length > ingest.settings.max_size:
        raise TusError("too-large", f"Upload-Length {new_length} exceeds Tus-Max-Size {ingest.settings.max_size}")
    if upload.state == UploadState.COMPLETE:
        # A complete upload never changes again: answered without its lock, which a stalled body
        # would otherwise hold.
        return await _patch_completed(request, upload, offset)

    async with ingest.locker.hold(upload_id) as lease:
        upload = await _load(ingest, upload_id, principal)
        if upload.state == UploadState.COMPLETE:
            return await _patch_completed(request, upload, offset)
        if new_length is not None and upload.length is not None and new_length != upload.length:
            raise TusError("length-already-set")
        current = await _stored_offset(ingest, upload)
        if offset != current:
            raise TusError("offset-mismatch", f"Upload-Offset is {offset} but the upload is at {current}")
        if new_length is not None and upload.length is None:
            if new_length < current:
                raise TusError("length-too-small")
            upload = dataclasses.replace(upload, length=new_length)
        new_offset, expires = await _append(ingest, request, upload, offset, checksum, lease)
        headers = {"Upload-Offset": str(new_offset)}
        if upload.length is not None and new_offset == upload.length:
            await ingest.complete(upload)
        else:
            headers["Upload-Expires"] = format_expires(expires)
    return Response(status_code=204, headers=headers)


@router.delete("/files/{upload_id}", status_code=204, **NO_BODY)  # type: ignore[arg-type]
async def terminate(upload_id: str, request: Request, ingest: IngestDep) -> Response:
    principal = await _admit_request(ingest, request)
    upload = await _load(ingest, upload_id, principal)
    async with ingest.locker.hold(upload_id):
        upload = await _load(ingest, upload_id, principal)
        if upload.state == UploadState.OPEN:
            await run_in_threadpool(ingest.store.discard, upload)
            await run_in_threadpool(end_upload, ingest.catalog, upload_id, UploadState.TERMINATED)
        else:
            # A finished upload's original belongs to its asset now (DELETE /assets removes it).
            await run_in_threadpool(forget_upload, ingest.catalog, upload_id)
    if upload.owner != principal.owner:  # an admin ending someone else's upload
        audit.info("terminate upload %s of %s by key %r (admin)", upload_id, upload.owner, principal.key_name)
    ingest.metrics.uploads.labels("terminated").inc()
    return Response(status_code=204)
