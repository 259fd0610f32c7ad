"""Signed playback at the edge: valid, expired, tampered, wrong-asset and missing tokens; playlists
rewritten so every URI a player follows carries the token; public assets stay unsigned."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import m3u8
import pytest

from cdn_edge.app import create_app as create_edge
from playback.signing import sign_token
from tests.cdn_edge.edge_stack import ASSET, MASTER, PLAYLIST, SEGMENT, SEGMENT_BYTES, edge_settings, make_origin

pytestmark = pytest.mark.anyio
SECRET = "playback-secret"


async def _client(tmp_path: Path, access: str) -> httpx.AsyncClient:
    origin = make_origin(tmp_path, access=access)
    edge = create_edge(
        edge_settings(tmp_path, "edge", "edge", "http://origin", signing_secret=SECRET),
        transport=httpx.ASGITransport(app=origin),
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=edge, client=("10.1.1.1", 5000)), base_url="http://e")


@pytest.fixture
async def signed(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(tmp_path, "signed") as c:
        yield c


def _token(asset: str = ASSET, ttl: int = 300, ip: str | None = None) -> str:
    return sign_token(SECRET.encode(), asset, int(time.time()) + ttl, ip)


async def test_valid_token(signed: httpx.AsyncClient) -> None:
    r = await signed.get(f"/{SEGMENT}", params={"token": _token()})
    assert (r.status_code, r.content) == (200, SEGMENT_BYTES)
    bound = await signed.get(f"/{SEGMENT}", params={"token": _token(ip="10.1.1.1")})
    assert bound.status_code == 200


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, "token_missing"),
        (lambda: _token(ttl=-10), "token_expired"),
        (lambda: _token()[:-3] + "abc", "token_invalid"),
        (lambda: _token().replace(".a.", ".i."), "token_invalid"),
        (lambda: _token(asset="other"), "token_invalid"),
        (lambda: _token(ip="10.9.9.9"), "token_invalid"),
        (lambda: "nonsense", "token_malformed"),
    ],
)
async def test_refused_tokens(signed: httpx.AsyncClient, token: object, code: str) -> None:
    params = {"token": token()} if callable(token) else {}
    for _ in range(2):  # on the miss and on the hit
        r = await signed.get(f"/{SEGMENT}", params=params)
        assert r.status_code == 403
        assert r.json()["error"] == code
        assert r.headers["access-control-allow-origin"] == "*"


async def test_playlists_are_rewritten(signed: httpx.AsyncClient) -> None:
    token = _token()
    master = m3u8.loads((await signed.get(f"/{MASTER}", params={"token": token})).text)
    assert [p.uri for p in master.playlists] == [f"360p/index.m3u8?token={token}"]
    media_response = await signed.get(f"/{PLAYLIST}", params={"token": token})
    media = m3u8.loads(media_response.text)
    assert media.segments[0].init_section.uri == f"init.mp4?token={token}"
    assert all(s.uri.endswith(f"?token={token}") for s in media.segments)
    assert "private" in media_response.headers["cache-control"]
    # Following the rewritten URIs plays.
    for uri in [media.segments[0].init_section.uri, *[s.uri for s in media.segments]]:
        assert (await signed.get(f"/{ASSET}/360p/{uri}")).status_code == 200


async def test_public_assets_need_no_token(tmp_path: Path) -> None:
    async with await _client(tmp_path, "public") as c:
        assert (await c.get(f"/{SEGMENT}")).status_code == 200
        assert "token" not in (await c.get(f"/{PLAYLIST}")).text
        assert (await c.get(f"/{SEGMENT}", params={"token": "forged"})).status_code == 403


async def test_signed_playlist_revalidates_per_token(signed: httpx.AsyncClient) -> None:
    token = _token()
    first = await signed.get(f"/{PLAYLIST}", params={"token": token})
    again = await signed.get(f"/{PLAYLIST}", params={"token": token}, headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304
    other = await signed.get(f"/{PLAYLIST}", params={"token": _token(ttl=999)})
    assert other.headers["etag"] != first.headers["etag"]  # another token, another representation
