from __future__ import annotations

import pytest

from playback.access import SIGNED, check_access
from playback.clips import ClipRange
from playback.errors import TokenClipMismatch, TokenExpired, TokenInvalid, TokenMalformed, TokenMissing
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


def test_a_token_can_bind_a_clip_range() -> None:
    clip = ClipRange(12_000, 47_000)
    token = sign_token(SECRET, "asset1", NOW + 60, clip=clip)
    assert verify_token(SECRET, token, "asset1", now=NOW).clip == clip
    assert verify_token(SECRET, sign_token(SECRET, "asset1", NOW + 60), "asset1", now=NOW).clip is None
    open_ended = sign_token(SECRET, "asset1", NOW + 60, "10.0.0.1", clip=ClipRange(5_000, None))
    assert verify_token(SECRET, open_ended, "asset1", now=NOW, client_ip="10.0.0.1").clip == ClipRange(5_000, None)


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (lambda t: t.replace(".12000-47000.", ".0-47000."), TokenInvalid),  # widened
        (lambda t: t.replace(".12000-47000.", ".12000-.", 1), TokenInvalid),  # opened
        (lambda t: t.replace(".12000-47000.", "."), TokenMalformed),  # dropped: 4 parts of v2
        (lambda t: "v1" + t[2:].replace(".12000-47000.", "."), TokenInvalid),  # relabelled as unbound
        (lambda t: t.replace(".12000-47000.", ".x-y."), TokenMalformed),
    ],
)
def test_a_bound_range_cannot_be_changed(edit: object, error: type[Exception]) -> None:
    token = sign_token(SECRET, "asset1", NOW + 60, clip=ClipRange(12_000, 47_000))
    with pytest.raises(error):
        verify_token(SECRET, edit(token), "asset1", now=NOW)  # type: ignore[operator]


def test_the_range_is_checked_on_playlists_only() -> None:
    token = sign_token(SECRET, "asset1", NOW + 60, clip=ClipRange(12_000, 47_000))
    kwargs = {"now": NOW, "client_ip": None}
    grant = check_access(
        SIGNED, [SECRET], token, "asset1/master.m3u8", clip=ClipRange(12_000, 47_000), manifest=True, **kwargs
    )  # type: ignore[arg-type]
    assert grant is not None
    for other in (ClipRange(12_000, 48_000), ClipRange(12_000, None), None):
        with pytest.raises(TokenClipMismatch):
            check_access(SIGNED, [SECRET], token, "asset1/a/index.m3u8", clip=other, manifest=True, **kwargs)  # type: ignore[arg-type]
    assert check_access(SIGNED, [SECRET], token, "asset1/a/seg_00001.m4s", **kwargs) is not None  # type: ignore[arg-type]
    unbound = sign_token(SECRET, "asset1", NOW + 60)
    for clip in (ClipRange(0, 1_000), None):
        assert check_access(SIGNED, [SECRET], unbound, "asset1/master.m3u8", clip=clip, manifest=True, **kwargs)  # type: ignore[arg-type]
