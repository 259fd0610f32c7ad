"""Signed playback tokens: HMAC-SHA256 over (asset, expiry, optional client IP).

Token format (URL-safe, travels as the `token` query parameter):

    v1.<expires_at>.<scope>.<signature>

`scope` is "a" (any client) or "i" (bound to the client IP given at signing). The asset id and IP are
not in the token: they come from the request (URL path, peer address) and are covered by the
signature, so a token for one asset or one client is useless for another. Verification uses a
constant-time compare and accepts several secrets so a secret can be rotated without breaking URLs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from playback.errors import TokenExpired, TokenInvalid, TokenMalformed, TokenMissing

VERSION = "v1"
TOKEN_PARAM = "token"


@dataclass(frozen=True)
class Grant:
    """What a valid token allows."""

    asset_id: str
    expires_at: int
    client_ip: str | None


def _signature(secret: bytes, asset_id: str, expires_at: int, client_ip: str | None) -> str:
    message = "\n".join((VERSION, asset_id, str(expires_at), client_ip or "")).encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_token(secret: bytes, asset_id: str, expires_at: int, client_ip: str | None = None) -> str:
    """A token granting playback of every object of `asset_id` until `expires_at` (Unix seconds)."""
    if not secret:
        raise ValueError("signing secret must not be empty")
    scope = "i" if client_ip else "a"
    return f"{VERSION}.{int(expires_at)}.{scope}.{_signature(secret, asset_id, int(expires_at), client_ip)}"


def verify_token(
    secrets: bytes | Iterable[bytes],
    token: str | None,
    asset_id: str,
    *,
    now: float,
    client_ip: str | None = None,
) -> Grant:
    """The grant of `token` for `asset_id`, or raise a TokenError subclass (all mean 403).

    `secrets` is one secret or several (current first, then retired ones during a rotation).
    """
    if not token:
        raise TokenMissing("a signed token is required for this asset")
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != VERSION or parts[2] not in ("a", "i") or not parts[1].isdigit():
        raise TokenMalformed("not a playback token")
    expires_at = int(parts[1])
    bound_ip = client_ip if parts[2] == "i" else None
    if parts[2] == "i" and not client_ip:
        raise TokenInvalid("token is bound to a client address")
    candidates = [secrets] if isinstance(secrets, bytes) else list(secrets)
    # Check the signature before the expiry: a forged expiry must read as tampering, not as expired.
    if not any(hmac.compare_digest(_signature(s, asset_id, expires_at, bound_ip), parts[3]) for s in candidates if s):
        raise TokenInvalid("token signature does not match")
    if expires_at <= now:
        raise TokenExpired("token has expired")
    return Grant(asset_id, expires_at, bound_ip)
