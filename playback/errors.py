"""Token errors: a playback token that does not grant access. All answer 403 (`STATUS`).

TokenError                   base class (an httpsemantics.errors.HTTPSemanticsError)
 +-- TokenMissing            no token on a request for a signed asset
 +-- TokenMalformed          not a token at all
 +-- TokenExpired            the expiry is in the past
 +-- TokenInvalid            bad signature: tampered, other asset, other client IP, other secret
 +-- TokenUnverifiable       a signed object at an edge with no secret to verify tokens (fails closed)
 +-- TokenClipMismatch       a token bound to one clip range, used for another range or the whole asset
ClipError                    a clip range the request cannot have (an httpsemantics error too)
 +-- ClipInvalid             not a range: not numbers, negative, start not before end (400)
 +-- ClipOutsideMedia        the range starts past the end of the media (400)
 +-- ClipNotReady            the asset is still encoding: clips are cut from a ready asset (409)
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


class TokenClipMismatch(TokenError):
    code = "token_clip_mismatch"


class ClipError(HTTPSemanticsError):
    code = "clip_invalid"


class ClipInvalid(ClipError):
    code = "clip_invalid"


class ClipOutsideMedia(ClipError):
    code = "clip_outside_media"


class ClipNotReady(ClipError):
    code = "clip_not_ready"


STATUS: dict[type[Exception], int] = {TokenError: 403, ClipError: 400, ClipNotReady: 409}
