"""Media errors: what reading an original can end in; each says whether a retry could help.

MediaError                  base; `retryable`, `reason` (short stable code for metrics), readable message
 +-- InvalidMedia           the original is not usable media (never retried)
 +-- SourceUnreachable      the probe could not fetch the original by its URL (refused, unreachable)

The transcoder's errors (transcoder.errors) share this base, so a worker handles both alike.
"""

from __future__ import annotations


class MediaError(Exception):
    retryable = False
    reason = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason


class InvalidMedia(MediaError):
    reason = "invalid_media"


class SourceUnreachable(MediaError):
    retryable = True
    reason = "source_stream"
