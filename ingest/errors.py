"""Ingest errors.

IngestError                    base class
 +-- TusError                  a request the TUS protocol refuses; `status` and `code` from TUS_ERRORS,
 |                             rendered by one exception handler (routes.py) as a readable text body
 +-- LockTimeout               the per-upload lock could not be taken (holder alive and not yielding)
 +-- LockUnavailable           the lock backend (Redis, the catalog) cannot be reached
 +-- ContentRejected           a finished upload is not a video we can transcode (reason is readable)
"""

from __future__ import annotations

# code -> (HTTP status, default message). Declared once, like tusd's ErrXxx table.
TUS_ERRORS: dict[str, tuple[int, str]] = {
    "unsupported-version": (412, "unsupported Tus-Resumable version"),
    "unauthorized": (401, "a valid bearer token is required"),
    "forbidden": (403, "this key lacks the scope for that"),
    "not-found": (404, "upload not found"),
    "gone": (410, "upload expired"),
    "invalid-length": (400, "invalid Upload-Length"),
    "invalid-offset": (400, "invalid Upload-Offset"),
    "invalid-metadata": (400, "invalid Upload-Metadata"),
    "invalid-defer-length": (400, "Upload-Defer-Length must be 1"),
    "missing-length": (400, "Upload-Length or Upload-Defer-Length: 1 is required"),
    "length-already-set": (400, "Upload-Length cannot be changed once set"),
    "length-too-small": (400, "Upload-Length is smaller than the bytes already received"),
    "invalid-concat": (400, "invalid Upload-Concat"),
    "concat-not-finished": (400, "a partial upload of the final upload is not finished"),
    "invalid-checksum": (400, "invalid Upload-Checksum"),
    "unsupported-checksum": (400, "unsupported checksum algorithm"),
    "checksum-mismatch": (460, "checksum mismatch: the chunk was discarded"),
    "offset-mismatch": (409, "Upload-Offset does not match the upload's current offset"),
    "modify-final": (403, "a final (concatenated) upload cannot be patched"),
    "upload-complete": (403, "the upload is complete: it takes no more bytes"),
    "invalid-content-type": (415, "Content-Type must be application/offset+octet-stream"),
    "too-large": (413, "upload exceeds the maximum size"),
    "exceeds-length": (413, "the body goes beyond Upload-Length"),
    "not-video": (415, "only video uploads are accepted"),
    "storage-unavailable": (503, "storage is unavailable; retry later"),
    "lock-unavailable": (503, "the upload lock service is unavailable; retry later"),
    # The asset API (JSON bodies: ingest/app.py renders these as {"error", "message"}).
    "invalid-cursor": (400, "the cursor is not one this server made; start again without it"),
    "invalid-filter": (400, "invalid filter"),
    "source-refused": (400, "the source URL may not be imported"),
}


class IngestError(Exception):
    pass


class TusError(IngestError):
    def __init__(self, code: str, message: str | None = None) -> None:
        status, default = TUS_ERRORS[code]
        super().__init__(message or default)
        self.code = code
        self.status = status
        self.message = message or default


class LockTimeout(IngestError):
    pass


class LockUnavailable(IngestError):
    pass


class ContentRejected(IngestError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
