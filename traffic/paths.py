"""Request paths checked before anything looks them up. Pure.

A path reaches the object store only as a key of at most MAX_SEGMENT bytes per segment (NAME_MAX of
every common filesystem, and S3's keys are far below MAX_PATH), valid UTF-8 once percent-decoded,
with no control character, backslash, empty, `.` or `..` segment. Everything else is the client's
mistake, answered 400 or 414 with a short reason, never looked up: a name the filesystem refuses
(ENAMETOOLONG) would otherwise surface as a 500 and count against the upstream at every cache tier.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from traffic.errors import BadPath, PathTooLong

MAX_PATH = 1024  # bytes of the raw (still percent-encoded) path
MAX_SEGMENT = 255  # bytes of one decoded segment
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_path(raw: bytes) -> str:
    """The object key `raw` names (decoded, without the leading slash), or raise BadPath/PathTooLong.

    `raw` is the request target's path as sent (ASGI `raw_path`); anything from `?` on is ignored.
    The empty key ("/") passes: no object has it, the caller answers 404.
    """
    raw = raw.split(b"?", 1)[0]
    if len(raw) > MAX_PATH:
        raise PathTooLong(f"path longer than {MAX_PATH} bytes")
    if not raw.startswith(b"/"):
        raise BadPath("path must start with /")
    if _BAD_ESCAPE.search(raw):
        raise BadPath("bad percent-encoding")
    try:
        path = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise BadPath("path is not UTF-8") from None
    if _CONTROL.search(path):
        raise BadPath("control character in path")
    if "\\" in path:
        raise BadPath("backslash in path")
    key = path[1:]
    if not key:
        return key
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise BadPath("empty, . or .. segment in path")
        if len(segment.encode()) > MAX_SEGMENT:
            raise PathTooLong(f"path segment longer than {MAX_SEGMENT} bytes")
    return key


def request_path(scope: Scope) -> bytes:
    """The raw path of an ASGI HTTP scope (`raw_path` is optional in ASGI: re-encode `path` then)."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        return raw
    path = scope.get("path")
    return path.encode("utf-8", "surrogateescape") if isinstance(path, str) else b"/"


class PathGuard:
    """ASGI middleware: an HTTP request whose path check_path refuses is answered here (JSON with a
    short reason, no-store), before routing: the router would otherwise answer some with its own 404
    and hand others to handlers. `on_refused(status)` counts them."""

    def __init__(self, app: ASGIApp, on_refused: Callable[[int], None] | None = None) -> None:
        self.app = app
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                check_path(request_path(scope))
            except BadPath as exc:
                if self.on_refused is not None:
                    self.on_refused(exc.status)
                body = json.dumps({"error": exc.code, "detail": str(exc)}).encode()
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ]
                await send({"type": "http.response.start", "status": exc.status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
