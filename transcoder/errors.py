"""Transcoder errors; each says whether a retry could help.

TranscodeError              base; `retryable`, `reason` (short stable code for metrics), readable message
 +-- InvalidMedia           the original is not usable media (never retried)
 +-- EncodeFailed           ffmpeg failed on an input it had accepted (never retried; message summarises stderr)
 |    +-- MalformedFmp4     an output segment is not the fragmented MP4 expected (transcoder.fmp4's only error)
 +-- TransientError         storage or broker trouble (retried with backoff)
 |    +-- SourceUnreachable the probe could not fetch the original by its URL (refused, unreachable)
 +-- Superseded             the attempt no longer holds its job (requeued, taken over): it ends
                            without publishing and without writing the catalog (never retried)
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


class MalformedFmp4(EncodeFailed):
    reason = "malformed_fmp4"


class TransientError(TranscodeError):
    retryable = True
    reason = "transient"


class Superseded(TranscodeError):
    reason = "superseded"


class SourceUnreachable(TransientError):
    reason = "source_stream"
