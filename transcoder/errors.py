"""Transcoder errors; each says whether a retry could help.

media.errors.MediaError     base; `retryable`, `reason` (short stable code for metrics), readable message
 +-- media.errors.InvalidMedia       the original is not usable media (never retried)
 +-- media.errors.SourceUnreachable  the probe could not fetch the original by its URL (retried)
 +-- TranscodeError         base of the errors the worker itself raises
      +-- EncodeFailed      ffmpeg failed on an input it had accepted (never retried; message summarises stderr)
      |    +-- MalformedFmp4  an output segment is not the fragmented MP4 expected (package.fmp4's only error)
      +-- TransientError    storage or broker trouble (retried with backoff)
      +-- Superseded        the attempt no longer holds its job (requeued, taken over): it ends
                            without publishing and without writing the catalog (never retried)
"""

from __future__ import annotations

from media.errors import MediaError


class TranscodeError(MediaError):
    pass


class EncodeFailed(TranscodeError):
    reason = "encode_failed"


class MalformedFmp4(EncodeFailed):
    reason = "malformed_fmp4"


class TransientError(TranscodeError):
    retryable = True
    reason = "transient"


class Superseded(TranscodeError):
    reason = "superseded"
