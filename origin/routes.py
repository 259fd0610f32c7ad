"""GET/HEAD of published objects: validators, conditionals, ranges, caching headers, streamed bodies."""

from __future__ import annotations

import errno
import hashlib
import posixpath
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from httpsemantics.caching import (
    CachePolicy,
    Kind,
    PlaylistState,
    cache_control,
    classify,
    content_disposition,
    dash_state,
    hls_state,
)
from httpsemantics.conditional import evaluate_preconditions, http_date, quote_etag, range_applies
from httpsemantics.errors import MalformedRange, MultipleRanges, NotFound
from httpsemantics.ranges import parse_range
from httpsemantics.variants import is_generated
from origin.clips import clipped
from origin.images import serve_image
from origin.metrics import OriginMetrics
from origin.rungs import TRIMMED_MAX_AGE, hot_rungs_only
from playback.access import ACCESS_HEADER, AccessClassifier, asset_of, check_access
from playback.clips import ClipRange, parse_clip
from playback.signing import TOKEN_PARAM
from storage.errors import InvalidKey, ObjectMissing
from storage.objects import ObjectInfo, ObjectStore, check_key
from traffic.clients import TrustedProxies
from traffic.errors import PathTooLong
from traffic.paths import check_path, request_path


@dataclass
class OriginState:
    store: ObjectStore
    bucket: str
    policy: CachePolicy
    access: AccessClassifier
    secrets: tuple[bytes, ...]  # non-empty only when the origin verifies tokens itself
    metrics: OriginMetrics
    clock: Callable[[], float]
    proxies: TrustedProxies = field(default_factory=TrustedProxies)

    def check_token(
        self, request: Request, key: str, access: str, *, clip: ClipRange | None = None, manifest: bool = False
    ) -> None:
        """The playback token check of every object of an asset (TokenError: 403); `clip` and `manifest`:
        a range-bound token plays only its range of a playlist or MPD (playback.clips)."""
        peer = request.client.host if request.client else None
        client_ip = self.proxies.client_address(peer, request.headers.getlist("x-forwarded-for"))
        token = request.query_params.get(TOKEN_PARAM)
        check_access(
            access, self.secrets, token, key, now=time.time(), client_ip=client_ip, clip=clip, manifest=manifest
        )


def _playlist_state(store: ObjectStore, bucket: str, key: str, kind: Kind, body: bytes) -> PlaylistState:
    """Blocking. A master is growing while any variant playlist it lists is (progressive publish)."""
    text = body.decode("utf-8", errors="replace")
    if kind is Kind.MANIFEST:
        return dash_state(text)
    state = hls_state(text)
    targets = []
    for uri in state.variant_uris:
        if "://" in uri or uri.startswith("/"):
            continue
        child = posixpath.normpath(posixpath.join(posixpath.dirname(key), uri.split("?", 1)[0]))
        try:
            child_state = hls_state(store.get_bytes(bucket, child).decode("utf-8", errors="replace"))
        except (ObjectMissing, InvalidKey):
            return PlaylistState(growing=True)
        if child_state.growing:
            targets.append(child_state.target_duration or 0)
    if targets:
        return PlaylistState(growing=True, target_duration=min(t for t in targets) or None)
    return state


def _load(
    state: OriginState, key: str, kind: Kind, clip: ClipRange | None = None
) -> tuple[ObjectInfo, bytes | None, PlaylistState | None, str]:
    """Blocking: stat the object; for playlists also read it (small) to learn whether it still grows,
    and cut it to `clip` when one is asked for (origin.clips)."""
    info = state.store.stat(state.bucket, key)
    access = state.access.classify(asset_of(key))
    if kind not in (Kind.PLAYLIST, Kind.MANIFEST):
        return info, None, None, access
    body = state.store.get_bytes(state.bucket, key)
    playlist = _playlist_state(state.store, state.bucket, key, kind, body)
    trimmed = hot_rungs_only(state.store, state.bucket, key, kind, body, state.clock())
    if trimmed is not None:
        body, playlist = trimmed, PlaylistState(growing=False, max_age=TRIMMED_MAX_AGE)
    if clip is not None:
        body = clipped(state.store, state.bucket, key, kind, body, playlist, clip)
    # A content hash, not the stat etag: the playlist may be replaced between stat and read.
    info = ObjectInfo(info.bucket, key, len(body), hashlib.sha1(body).hexdigest()[:20], info.last_modified)
    return info, body, playlist, access


def _chunks(body: bytes, start: int, end: int) -> Iterator[bytes]:
    yield body[start : end + 1]


async def serve_object(request: Request) -> Response:
    state: OriginState = request.app.state.origin
    key = check_path(request_path(request.scope))  # BadPath: 400/414, nothing looked up
    try:
        check_key(key)
    except InvalidKey:
        raise NotFound(key) from None
    if is_generated(key):
        return await serve_image(request, key)
    kind, content_type = classify(key)
    # Only playlists and MPDs are cut; the segments a clipped playlist lists are plain objects.
    clip = parse_clip(request.query_params) if kind in (Kind.PLAYLIST, Kind.MANIFEST) else None
    started = time.perf_counter()
    try:
        info, body, playlist, access = await run_in_threadpool(_load, state, key, kind, clip)
    except (ObjectMissing, InvalidKey, NotADirectoryError):
        raise NotFound(key) from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # a store with a shorter NAME_MAX than check_path assumes
            raise PathTooLong("name too long for the store") from None
        raise
    finally:
        state.metrics.storage_seconds.observe(time.perf_counter() - started)
    state.check_token(request, key, access, clip=clip, manifest=kind in (Kind.PLAYLIST, Kind.MANIFEST))

    etag = quote_etag(info.etag)
    headers = {
        "content-type": content_type,
        "etag": etag,
        "last-modified": http_date(info.last_modified),
        "cache-control": cache_control(kind, state.policy, playlist),
        "accept-ranges": "bytes",
        ACCESS_HEADER: access,
    }
    disposition = content_disposition(key)
    if disposition is not None:
        headers["content-disposition"] = disposition
    decided = evaluate_preconditions(request.headers, etag, info.last_modified, request.method)
    if decided is not None:
        state.metrics.requests.labels(kind.value, str(decided)).inc()
        if decided == 304:
            return Response(status_code=304, headers={k: v for k, v in headers.items() if k != "content-type"})
        return Response(status_code=412, headers={"cache-control": "no-store"})

    status, start, end = 200, 0, info.size - 1
    if range_applies(request.headers, etag, info.last_modified):
        try:
            wanted = parse_range(request.headers.get("range"), info.size)
        except (MalformedRange, MultipleRanges):
            wanted = None  # RFC 9110 14.2: ignore the header, send the whole object
        if wanted is not None:
            status, start, end = 206, wanted.start, wanted.end
            headers["content-range"] = wanted.content_range(info.size)
    length = max(0, end - start + 1)
    headers["content-length"] = str(length)
    state.metrics.requests.labels(kind.value, str(status)).inc()
    if request.method == "HEAD" or length == 0:
        return Response(status_code=status, headers=headers)
    state.metrics.bytes_served.labels(kind.value).inc(length)
    if body is not None:
        return StreamingResponse(_chunks(body, start, end), status_code=status, headers=headers)
    return StreamingResponse(_stream(state, key, start, end), status_code=status, headers=headers)


async def _stream(state: OriginState, key: str, start: int, end: int) -> AsyncIterator[bytes]:
    """The object's bytes, opened only once the body is sent: a client that leaves before (a timed-out
    shield) leaves no open file behind, and one that leaves midway gets it closed by `finally`."""
    chunks = await run_in_threadpool(state.store.read_range, state.bucket, key, start, end)
    try:
        async for chunk in iterate_in_threadpool(chunks):
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
