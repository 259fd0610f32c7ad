"""Origin errors. Protocol errors carry their HTTP status, declared once in `STATUS` and rendered by
one exception handler (origin.app); the edge reuses the same table for the errors it shares.

OriginError                       base class
 +-- TokenError                   a playback token that does not grant access (403)
 |    +-- TokenMissing            no token on a request for a signed asset
 |    +-- TokenMalformed          not a token at all
 |    +-- TokenExpired            the expiry is in the past
 |    +-- TokenInvalid            bad signature: tampered, other asset, other client IP, other secret
 |    +-- TokenUnverifiable       a signed object at an edge with no secret to verify tokens (fails closed)
 +-- RangeError                   a Range header we cannot honour
 |    +-- MalformedRange          syntactically invalid: ignored, the full object is served (RFC 9110 14.2)
 |    +-- RangeNotSatisfiable     no range overlaps the object (416 with `bytes */size`)
 |    +-- MultipleRanges          several ranges: Range is ignored, the whole object is sent (200)
 +-- NotFound                     no such published object (404)
"""

from __future__ import annotations

from collections.abc import Mapping


class OriginError(Exception):
    code = "origin_error"


class TokenError(OriginError):
    code = "token_invalid"


class TokenMissing(TokenError):
    code = "token_missing"


class TokenMalformed(TokenError):
    code = "token_malformed"


class TokenExpired(TokenError):
    code = "token_expired"


class TokenInvalid(TokenError):
    code = "token_invalid"


class TokenUnverifiable(TokenError):
    code = "token_unverifiable"


class RangeError(OriginError):
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


class NotFound(OriginError):
    code = "not_found"


# The one place an error becomes an HTTP status.
STATUS: dict[type[Exception], int] = {
    TokenError: 403,
    RangeNotSatisfiable: 416,
    NotFound: 404,
}


def status_in(table: Mapping[type[Exception], int], exc: Exception) -> int:
    """The status of the most specific class of `exc` in `table`; 500 when none is listed."""
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return 500


def status_for(exc: OriginError) -> int:
    return status_in(STATUS, exc)
