"""CORS on every response, errors included, as a pure ASGI middleware.

Starlette's CORSMiddleware only decorates requests that carry Origin, and an unhandled exception is
rendered outside all user middleware, without CORS headers; a browser player then sees an opaque
network error instead of the status. Media is public by URL (access is by token), so `*` is right.
This middleware therefore also turns an unhandled exception into a 500 it can decorate.
"""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

EXPOSED = "Content-Range, Content-Length, Accept-Ranges, ETag, Last-Modified, Age, Cache-Status, Retry-After"
CORS_HEADERS: list[tuple[bytes, bytes]] = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", EXPOSED.encode()),
    (b"timing-allow-origin", b"*"),
]
PREFLIGHT_HEADERS: list[tuple[bytes, bytes]] = [
    (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
    # CMCD-*: players sending CMCD in headers (CTA-5004 header mode) rather than in the query.
    (
        b"access-control-allow-headers",
        b"Range, If-None-Match, If-Modified-Since, If-Range, Authorization, "
        b"CMCD-Request, CMCD-Object, CMCD-Status, CMCD-Session",
    ),
    (b"access-control-max-age", b"86400"),
]


class CORSEverywhere:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            headers = [*CORS_HEADERS, *PREFLIGHT_HEADERS, (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        started = False

        async def send_with_cors(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {name for name, _ in message["headers"]}
                extra = [h for h in CORS_HEADERS if h[0] not in names]
                message = {**message, "headers": [*message["headers"], *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_cors)
        except Exception:
            if started:
                raise  # the head is out: all we can do is abort the connection
            log.exception("unhandled error on %s", scope.get("path"))
            body = json.dumps({"error": "internal_error"}).encode()
            headers = [
                *CORS_HEADERS,
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": body})
