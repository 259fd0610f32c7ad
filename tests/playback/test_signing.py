from __future__ import annotations

import pytest

from playback.errors import TokenExpired, TokenInvalid, TokenMalformed, TokenMissing
from playback.signing import sign_token, verify_token

SECRET = b"s3cret"
NOW = 1_700_000_000


def test_valid_token_grants_its_asset() -> None:
    token = sign_token(SECRET, "asset1", NOW + 60)
    grant = verify_token(SECRET, token, "asset1", now=NOW)
    assert (grant.asset_id, grant.expires_at, grant.client_ip) == ("asset1", NOW + 60, None)


@pytest.mark.parametrize(
    ("token", "asset", "ip", "error"),
    [
        (None, "asset1", None, TokenMissing),
        ("", "asset1", None, TokenMissing),
        ("garbage", "asset1", None, TokenMalformed),
        ("v1.x.a.sig", "asset1", None, TokenMalformed),
        (sign_token(SECRET, "asset1", NOW - 1), "asset1", None, TokenExpired),
        (sign_token(SECRET, "asset1", NOW + 60), "asset2", None, TokenInvalid),
        (sign_token(b"other", "asset1", NOW + 60), "asset1", None, TokenInvalid),
        (sign_token(SECRET, "asset1", NOW + 60).replace(f"{NOW + 60}", f"{NOW + 99999}"), "asset1", None, TokenInvalid),
        (sign_token(SECRET, "asset1", NOW + 60)[:-2] + "AA", "asset1", None, TokenInvalid),
        (sign_token(SECRET, "asset1", NOW + 60, "10.0.0.1"), "asset1", "10.0.0.2", TokenInvalid),
        (sign_token(SECRET, "asset1", NOW + 60, "10.0.0.1"), "asset1", None, TokenInvalid),
    ],
)
def test_rejected_tokens(token: str | None, asset: str, ip: str | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        verify_token(SECRET, token, asset, now=NOW, client_ip=ip)


def test_ip_bound_token_and_rotation() -> None:
    token = sign_token(b"old", "asset1", NOW + 60, "10.0.0.1")
    assert verify_token([b"new", b"old"], token, "asset1", now=NOW, client_ip="10.0.0.1").client_ip == "10.0.0.1"


def test_empty_secret_refused() -> None:
    with pytest.raises(ValueError):
        sign_token(b"", "a", NOW)
