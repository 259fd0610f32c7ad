"""Errors of HTTP semantics shared by the origin and the cache nodes. Each status is declared once in
`STATUS`; each app renders them in one exception handler (origin.app, cdn_edge.app), with the token
errors of playback.errors, which derive from the same base.

HTTPSemanticsError             base class: `code`, a stable machine-readable name
 +-- RangeError                a Range header we cannot honour
 |    +-- MalformedRange       syntactically invalid: ignored, the full object is served (RFC 9110 14.2)
 |    +-- RangeNotSatisfiable  no range overlaps the object (416 with `bytes */size`)
 |    +-- MultipleRanges       several ranges: Range is ignored, the whole object is sent (200)
 +-- NotFound                  no such published object (404)
"""

from __future__ import annotations

from collections.abc import Mapping


class HTTPSemanticsError(Exception):
    code = "http_error"


class RangeError(HTTPSemanticsError):
    code = "range_error"


class MalformedRange(RangeError):
    code = "range_malformed"


class RangeNotSatisfiable(RangeError):
    code = "range_not_satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(f"no satisfiable range in an object of {size} bytes")
        self.size = size


class MultipleRanges(RangeError):
    code = "range_multiple"


class NotFound(HTTPSemanticsError):
    code = "not_found"


STATUS: dict[type[Exception], int] = {
    RangeNotSatisfiable: 416,
    NotFound: 404,
}


def status_in(table: Mapping[type[Exception], int], exc: Exception) -> int:
    """The status of the most specific class of `exc` in `table`; 500 when none is listed."""
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return 500
