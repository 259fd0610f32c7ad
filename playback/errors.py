"""Token errors: a playback token that does not grant access. All answer 403 (`STATUS`).

TokenError                   base class (an httpsemantics.errors.HTTPSemanticsError)
 +-- TokenMissing            no token on a request for a signed asset
 +-- TokenMalformed          not a token at all
 +-- TokenExpired            the expiry is in the past
 +-- TokenInvalid            bad signature: tampered, other asset, other client IP, other secret
 +-- TokenUnverifiable       a signed object at an edge with no secret to verify tokens (fails closed)
"""

from __future__ import annotations

from httpsemantics.errors import HTTPSemanticsError


class TokenError(HTTPSemanticsError):
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


STATUS: dict[type[Exception], int] = {TokenError: 403}
