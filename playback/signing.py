"""Signed playback tokens: HMAC-SHA256 over (asset, expiry, optional client IP, optional clip range).

Token format (URL-safe, travels as the `token` query parameter):

    v1.<expires_at>.<scope>.<signature>                 the whole asset
    v2.<expires_at>.<scope>.<clip>.<signature>          bound to one clip range (playback.clips)

`clip` is `<start_ms>-<end_ms>` (end empty: to the end); it is covered by the signature, so it
cannot be widened. v1 tokens (all tokens issued before clips existed) keep verifying unchanged.
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

from playback.clips import ClipRange
from playback.errors import TokenExpired, TokenInvalid, TokenMalformed, TokenMissing

VERSION = "v1"
CLIP_VERSION = "v2"
TOKEN_PARAM = "token"


@dataclass(frozen=True)
class Grant:
    """What a valid token allows."""

    asset_id: str
    expires_at: int
    client_ip: str | None
    clip: ClipRange | None = None  # the only range it plays; None: the whole asset and any range


def _signature(secret: bytes, asset_id: str, expires_at: int, client_ip: str | None, clip: str | None = None) -> str:
    fields: tuple[str, ...] = (VERSION, asset_id, str(expires_at), client_ip or "")
    if clip is not None:
        fields = (CLIP_VERSION, asset_id, str(expires_at), client_ip or "", clip)
    message = "\n".join(fields).encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_token(
    secret: bytes, asset_id: str, expires_at: int, client_ip: str | None = None, clip: ClipRange | None = None
) -> str:
    """A token granting playback of every object of `asset_id` until `expires_at` (Unix seconds);
    with `clip`, its playlists and MPDs only over that range (see playback.access)."""
    if not secret:
        raise ValueError("signing secret must not be empty")
    scope = "i" if client_ip else "a"
    if clip is None:
        return f"{VERSION}.{int(expires_at)}.{scope}.{_signature(secret, asset_id, int(expires_at), client_ip)}"
    binding = clip.binding()
    signature = _signature(secret, asset_id, int(expires_at), client_ip, binding)
    return f"{CLIP_VERSION}.{int(expires_at)}.{scope}.{binding}.{signature}"


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
    binding: str | None = None
    clip: ClipRange | None = None
    if len(parts) == 5 and parts[0] == CLIP_VERSION:
        binding = parts.pop(3)
        clip = ClipRange.from_binding(binding)
        if clip is None:
            raise TokenMalformed("not a playback token")
    elif len(parts) != 4 or parts[0] != VERSION:
        raise TokenMalformed("not a playback token")
    if parts[2] not in ("a", "i") or not parts[1].isdigit():
        raise TokenMalformed("not a playback token")
    expires_at = int(parts[1])
    bound_ip = client_ip if parts[2] == "i" else None
    if parts[2] == "i" and not client_ip:
        raise TokenInvalid("token is bound to a client address")
    candidates = [secrets] if isinstance(secrets, bytes) else list(secrets)
    # Check the signature before the expiry: a forged expiry must read as tampering, not as expired.
    if not any(
        hmac.compare_digest(_signature(s, asset_id, expires_at, bound_ip, binding), parts[3]) for s in candidates if s
    ):
        raise TokenInvalid("token signature does not match")
    if expires_at <= now:
        raise TokenExpired("token has expired")
    return Grant(asset_id, expires_at, bound_ip, clip)
