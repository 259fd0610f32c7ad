"""Errors of caption files and tracks; the ingest maps them to HTTP statuses through `status`.

CaptionError
 +-- InvalidCaptions     the file is not valid WebVTT/SRT: encoding, syntax, timing (422, names the line)
 +-- CaptionsTooLarge    over the size, cue-count or line-length limits (413)
 +-- InvalidLanguage     not a well-formed BCP 47 tag (422)
 +-- InvalidTrackOptions kind or label out of range (422)
"""

from __future__ import annotations


class CaptionError(Exception):
    code = "invalid_captions"
    status = 422

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.message = f"line {line}: {message}" if line is not None else message
        self.line = line
        super().__init__(self.message)


class InvalidCaptions(CaptionError):
    code = "invalid_captions"


class CaptionsTooLarge(CaptionError):
    code = "captions_too_large"
    status = 413


class InvalidLanguage(CaptionError):
    code = "invalid_language"


class InvalidTrackOptions(CaptionError):
    code = "invalid_track_options"
