"""`GET /assets/{id}/clip`: clip URLs of a ready asset, signed (and range-bound on request) where
playback is signed; refusals with readable reasons; another owner's asset is 404."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from catalog.keys import create_key
from catalog.models import Asset, AssetState
from catalog.session import Catalog
from ingest.app import create_app
from ingest.settings import IngestSettings
from jobs.celery_app import make_celery
from playback.clips import ClipRange
from playback.signing import verify_token
from tests.ingest.conftest import make_settings
from tests.ingest.harness import ServerThread

SECRET = "clip-api-secret"


@pytest.fixture
def settings(tmp_path: Path) -> IngestSettings:
    return make_settings(tmp_path, "filesystem", signing_secret=SECRET)


@pytest.fixture
def client(settings: IngestSettings) -> Iterator[httpx.Client]:
    with ServerThread(create_app(settings, celery_app=make_celery(settings.broker))) as server:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            yield c


@pytest.fixture
def world(settings: IngestSettings, client: httpx.Client) -> dict[str, object]:
    """Keys of alice and bob; alice's private ready asset, public ready asset and one still encoding."""
    catalog = Catalog(settings.catalog, apply_migrations=False)
    try:
        alice = create_key(catalog, "alice-key", frozenset({"read"}), "alice")[1]
        bob = create_key(catalog, "bob-key", frozenset({"read"}), "bob")[1]
        ids = {}
        with catalog.session() as s:
            for name, state, public in (
                ("private", AssetState.READY, False),
                ("public", AssetState.READY, True),
                ("encoding", AssetState.PROCESSING, False),
            ):
                asset = Asset(state=state, owner="alice", title=name, public=public, duration=60.0)
                s.add(asset)
                s.flush()
                asset.master_key, asset.dash_key = f"{asset.id}/a1/master.m3u8", f"{asset.id}/a1/manifest.mpd"
                ids[name] = asset.id
    finally:
        catalog.dispose()
    return {
        "alice": {"Authorization": f"Bearer {alice}"},
        "bob": {"Authorization": f"Bearer {bob}"},
        **ids,
    }


def _token(url: str) -> str | None:
    return parse_qs(urlsplit(url).query).get("token", [None])[0]


def test_clip_urls_of_a_private_asset(client: httpx.Client, world: dict) -> None:  # type: ignore[type-arg]
    asset = world["private"]
    r = client.get(f"/assets/{asset}/clip", params={"start": "12", "end": "47.5"}, headers=world["alice"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["hls"].startswith(f"http://127.0.0.1:8703/{asset}/a1/master.m3u8?start=12&end=47.5&token=")
    assert body["dash"].startswith(f"http://127.0.0.1:8703/{asset}/a1/manifest.mpd?start=12&end=47.5&token=")
    assert (body["start"], body["end"], body["bound"]) == (12.0, 47.5, False)
    grant = verify_token(SECRET.encode(), _token(body["hls"]), asset, now=time.time())
    assert grant.clip is None and grant.expires_at == body["expires_at"]

    bound = client.get(
        f"/assets/{asset}/clip", params={"start": "12", "end": "47.5", "bind": "true"}, headers=world["alice"]
    ).json()
    grant = verify_token(SECRET.encode(), _token(bound["hls"]), asset, now=time.time())
    assert grant.clip == ClipRange(12_000, 47_500) and bound["bound"] is True


def test_public_asset_unsigned_unless_bound(client: httpx.Client, world: dict) -> None:  # type: ignore[type-arg]
    asset = world["public"]
    body = client.get(f"/assets/{asset}/clip", params={"start": "5", "end": "600"}, headers=world["alice"]).json()
    assert body["hls"] == f"http://127.0.0.1:8703/{asset}/a1/master.m3u8?start=5&end=600"
    assert (body["end"], body["expires_at"]) == (60.0, None)  # clamped to the duration
    bound = client.get(f"/assets/{asset}/clip", params={"start": "5", "bind": "1"}, headers=world["alice"]).json()
    assert verify_token(SECRET.encode(), _token(bound["hls"]), asset, now=time.time()).clip == ClipRange(5_000, None)


@pytest.mark.parametrize(
    ("asset", "params", "status", "error"),
    [
        ("private", {"start": "x", "end": "4"}, 400, "clip_invalid"),
        ("private", {"start": "nan"}, 400, "clip_invalid"),
        ("private", {"start": "-1", "end": "4"}, 400, "clip_invalid"),
        ("private", {"start": "9", "end": "3"}, 400, "clip_invalid"),
        ("private", {"start": "60", "end": "70"}, 400, "clip_outside_media"),
        ("encoding", {"start": "1", "end": "4"}, 409, "clip_not_ready"),
        ("missing", {"start": "1", "end": "4"}, 404, "not_found"),
    ],
)
def test_refusals(client: httpx.Client, world: dict, asset: str, params: dict, status: int, error: str) -> None:  # type: ignore[type-arg]
    r = client.get(f"/assets/{world.get(asset, asset)}/clip", params=params, headers=world["alice"])
    assert (r.status_code, r.json()["error"]) == (status, error)
    assert r.json()["message"]


def test_another_owner_and_no_key(client: httpx.Client, world: dict) -> None:  # type: ignore[type-arg]
    for asset in ("private", "public", "encoding"):
        r = client.get(f"/assets/{world[asset]}/clip", params={"start": "1"}, headers=world["bob"])
        assert (r.status_code, r.json()["error"]) == (404, "not_found")
        assert client.get(f"/assets/{world[asset]}/clip", params={"start": "1"}).status_code == 401


def test_bind_without_signing_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "filesystem")
    with ServerThread(create_app(settings, celery_app=make_celery(settings.broker))) as server:
        catalog = Catalog(settings.catalog, apply_migrations=False)
        with catalog.session() as s:
            asset = Asset(state=AssetState.READY, owner=None, public=True, duration=10.0)
            s.add(asset)
            s.flush()
            asset.master_key, asset_id = f"{asset.id}/a1/master.m3u8", asset.id
        catalog.dispose()
        with httpx.Client(base_url=server.url, headers={"Authorization": "Bearer test-token"}) as c:
            r = c.get(f"/assets/{asset_id}/clip", params={"start": "1", "bind": "true"})
            assert (r.status_code, r.json()["error"]) == (400, "signing_disabled")
            ok = c.get(f"/assets/{asset_id}/clip", params={"start": "1", "end": "2"}).json()
            assert ok["hls"].endswith("/a1/master.m3u8?start=1&end=2") and ok["dash"] is None
