"""Origin errors: the origin raises only shared ones, HTTP semantics (httpsemantics.errors: ranges,
404) and playback tokens (playback.errors: 403). Their statuses, declared in those packages, are
composed here and rendered by one exception handler (origin.app).
"""

from __future__ import annotations

from httpsemantics import errors as semantics
from httpsemantics.errors import HTTPSemanticsError, status_in
from playback import errors as playback

STATUS: dict[type[Exception], int] = {**semantics.STATUS, **playback.STATUS}


def status_for(exc: HTTPSemanticsError) -> int:
    return status_in(STATUS, exc)
