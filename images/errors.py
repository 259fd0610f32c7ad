"""Errors of images made on demand. Each has a stable `code` and its HTTP status (STATUS), rendered by
the origin's one exception handler with the message, written for the developer who sent the request.

ImageError                base class
 +-- BadParameter         a parameter unknown, repeated, malformed or out of bounds (400)
 +-- UnknownAsset         no such asset, or nothing published for it (404)
 |    +-- NoPictures      an audio-only asset: it has no video to make images from (404)
 +-- NotReady             the asset exists but its ladder is not complete yet (409)
 +-- Busy                 every generation slot of this origin is taken (503 + Retry-After)
 +-- RenderFailed         ffmpeg failed or ran out of its limits (503 + Retry-After: not a 5xx that
                          would trip the caches' circuit breakers, since the origin itself works and a
                          client could otherwise trip them with the URL of one image)
"""

from __future__ import annotations

from httpsemantics.errors import status_in


class ImageError(Exception):
    code = "image_error"


class BadParameter(ImageError):
    code = "bad_parameter"


class UnknownAsset(ImageError):
    code = "not_found"


class NoPictures(UnknownAsset):
    code = "no_video"


class NotReady(ImageError):
    code = "asset_not_ready"


class Busy(ImageError):
    code = "images_busy"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RenderFailed(ImageError):
    code = "render_failed"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


STATUS: dict[type[Exception], int] = {
    BadParameter: 400,
    UnknownAsset: 404,
    NotReady: 409,
    Busy: 503,
    RenderFailed: 503,
}


def status_of(exc: ImageError) -> int:
    return status_in(STATUS, exc)
