"""Transcoder errors; each says whether a retry could help.

TranscodeError              base; `retryable`, `reason` (short stable code for metrics), readable message
 +-- InvalidMedia           the original is not usable media (never retried)
 +-- EncodeFailed           ffmpeg failed on an input it had accepted (never retried; message summarises stderr)
 +-- TransientError         storage or broker trouble (retried with backoff)
      +-- SourceUnreachable  the probe could not fetch the original by its URL (refused, unreachable)
"""

from __future__ import annotations


class TranscodeError(Exception):
    retryable = False
    reason = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason


class InvalidMedia(TranscodeError):
    reason = "invalid_media"


class EncodeFailed(TranscodeError):
    reason = "encode_failed"


class TransientError(TranscodeError):
    retryable = True
    reason = "transient"


class SourceUnreachable(TransientError):
    reason = "source_stream"
