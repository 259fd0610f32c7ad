"""Import errors.

ImportError_                 base class
 +-- SourceFailed            the source cannot be imported; `reason` is for the creator (the asset's error)
 +-- Dropped                 one connection failed mid-way (reset, timeout, 5xx): resumed, not final
"""

from __future__ import annotations


class ImportError_(Exception):  # noqa: N801 - the builtin ImportError means something else
    """Base of this package's errors."""


class SourceFailed(ImportError_):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Dropped(ImportError_):
    """A transient failure of one request; the download resumes from the bytes it has."""
