"""ASGI middleware of the TUS endpoint: X-HTTP-Method-Override, Tus-Resumable on every response, and
request metrics. Pure ASGI so streaming request bodies pass through untouched."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.metrics import IngestMetrics
from ingest.protocol import TUS_VERSION

OVERRIDABLE = {"PATCH", "DELETE", "HEAD", "OPTIONS", "GET"}


class TusMiddleware:
    def __init__(self, app: ASGIApp, *, prefix: str, metrics: IngestMetrics) -> None:
        self.app = app
        self.prefix = prefix
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tus = scope["path"].startswith(self.prefix)
        override = dict(scope["headers"]).get(b"x-http-method-override") if tus else None
        if override is not None and scope["method"] == "POST":
            method = override.decode("latin-1").strip().upper()
            # Environments that can only send GET/POST tunnel the TUS verbs through this header.
            if method in OVERRIDABLE:
                scope = {**scope, "method": method}
        method = scope["method"]
        started = time.perf_counter()
        status = 500

        async def send_with_version(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if not tus:
                    await send(message)
                    return
                extra: list[Any] = [(b"tus-resumable", TUS_VERSION.encode())]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_version)
        finally:
            self.metrics.requests.labels(method, str(status)).inc()
            self.metrics.duration.labels(method).observe(time.perf_counter() - started)
