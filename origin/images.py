"""GET/HEAD of images made on demand (`{asset}/thumbnail.jpg?time=..`, `{asset}/animated.webp?..`).

The parameters are parsed and bounded first (400 before any lookup), then the asset's access is
checked like every other object of the asset (the token is verified here only when the origin
verifies tokens itself; edges enforce X-Vodstack-Access otherwise), then one of the origin's
generation slots is taken (503 + Retry-After when all are busy) and the image is made in a thread.
The answer is immutable per parameters: the published ladder of a ready asset never changes.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from httpsemantics.caching import Kind
from httpsemantics.conditional import evaluate_preconditions, quote_etag
from images.params import content_type, parse
from images.render import Gate, Renderer
from playback.access import ACCESS_HEADER
from playback.signing import TOKEN_PARAM

# Last-Modified of every made image: they carry a strong ETag, which is what caches revalidate with.
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


async def serve_image(request: Request, key: str) -> Response:
    """The image `key` names, made from the asset's published ladder. Raises ImageError subclasses,
    TokenError (403) and StorageError (503), rendered by the origin's handlers."""
    state = request.app.state.origin
    renderer: Renderer = request.app.state.image_renderer
    gate: Gate = request.app.state.image_gate
    asset_id, _, name = key.partition("/")
    pairs = [(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True) if k != TOKEN_PARAM]
    wanted = parse(name, pairs)
    access = await run_in_threadpool(state.access.classify, asset_id)
    state.check_token(request, key, access)
    gate.enter()
    started = time.perf_counter()
    try:
        body = await run_in_threadpool(renderer.make, asset_id, wanted)
    finally:
        gate.leave()
        state.metrics.image_seconds.observe(time.perf_counter() - started)
    etag = quote_etag(hashlib.sha256(body).hexdigest()[:32])
    headers = {
        "content-type": content_type(wanted),
        "etag": etag,
        "cache-control": f"public, max-age={state.policy.immutable_max_age}, immutable",
        ACCESS_HEADER: access,
    }
    decided = evaluate_preconditions(request.headers, etag, _EPOCH, request.method)
    state.metrics.requests.labels(Kind.IMAGE.value, str(decided or 200)).inc()
    if decided == 304:
        return Response(status_code=304, headers={k: v for k, v in headers.items() if k != "content-type"})
    if decided is not None:
        return Response(status_code=412, headers={"cache-control": "no-store"})
    headers["content-length"] = str(len(body))
    state.metrics.bytes_served.labels(Kind.IMAGE.value).inc(0 if request.method == "HEAD" else len(body))
    if request.method == "HEAD":
        return Response(status_code=200, headers=headers)
    return Response(body, status_code=200, headers=headers)
