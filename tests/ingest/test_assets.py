"""The asset API: listing, one asset with renditions and playback URLs, deletion."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from catalog.models import Asset, AssetState, Rendition
from catalog.session import Catalog
from playback.signing import verify_token
from tests.ingest.harness import Tus, metadata


@pytest.fixture
def backend() -> str:
    return "filesystem"


def _publish(settings, asset_id: str, *, public: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Do what the transcoder does when it publishes: renditions, keys, objects in media."""
    catalog = Catalog(settings.catalog, apply_migrations=False)
    with catalog.session() as s:
        asset = s.get(Asset, asset_id)
        asset.state, asset.public = AssetState.READY, public
        asset.master_key, asset.dash_key = f"{asset_id}/master.m3u8", f"{asset_id}/manifest.mpd"
        asset.ready_at = datetime.now(UTC)
        asset.renditions.append(
            Rendition(
                name="360p",
                kind="video",
                width=640,
                height=360,
                bandwidth=900_000,
                average_bandwidth=700_000,
                codecs="avc1.64001e",
            )  # fmt: skip
        )
    catalog.dispose()


def test_list_get_and_delete(tus: Tus, server, settings) -> None:
    ingest = server.server.config.app.state.ingest
    first = tus.new(5, headers={"Upload-Metadata": metadata(name="first")})
    tus.new(5, headers={"Upload-Metadata": metadata(filename="second.mp4")})
    listed = tus.get("/assets").json()
    assert [a["title"] for a in listed] == ["second.mp4", "first"]  # newest first
    assert all(a["state"] == "uploading" for a in listed)
    asset_id = listed[1]["id"]

    _publish(settings, asset_id)
    media = settings.storage.media_bucket
    ingest.objects.put_bytes(media, f"{asset_id}/master.m3u8", b"#EXTM3U\n")
    ingest.objects.put_bytes(media, f"{asset_id}/360p/init.mp4", b"x")
    body = tus.get(f"/assets/{asset_id}").json()
    assert body["state"] == "ready"
    assert body["playback"] == {
        "hls": f"http://127.0.0.1:8703/{asset_id}/master.m3u8",
        "dash": f"http://127.0.0.1:8703/{asset_id}/manifest.mpd",
        "poster": f"http://127.0.0.1:8703/{asset_id}/poster.jpg",
        "storyboard": f"http://127.0.0.1:8703/{asset_id}/storyboard.vtt",
        "waveform": None,
        "posters": [],  # no creator poster (tests/ingest/test_posters.py)
    }
    assert body["renditions"] == [
        {
            "name": "360p",
            "kind": "video",
            "width": 640,
            "height": 360,
            "bandwidth": 900_000,
            "average_bandwidth": 700_000,
            "codecs": "avc1.64001e",
            "codec": "h264",  # the family, for a reader who does not parse RFC 6381
            "target_vmaf": None,  # a fixed ladder: no VMAF step (tests/transcoder/test_fitted_ladder.py)
            "sampled_vmaf": None,
        }  # fmt: skip
    ]
    for key in ("progress", "speed", "eta_seconds", "error", "duration", "width", "height", "created_at"):
        assert key in body

    assert tus.http.delete(f"/assets/{asset_id}").status_code == 401
    assert tus.http.get(f"/assets/{asset_id}").status_code == 401
    assert tus.http.get("/assets").status_code == 401
    assert tus.http.delete(f"/assets/{asset_id}", headers=tus.auth).status_code == 204
    assert tus.get(f"/assets/{asset_id}").json()["state"] == "deleted"
    assert list(ingest.objects.list(media, f"{asset_id}/")) == []
    assert first  # the upload itself is untouched by deleting its asset


def test_unknown_asset_is_404_json(tus: Tus) -> None:
    r = tus.get("/assets/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert tus.http.delete("/assets/nope", headers=tus.auth).status_code == 404


def test_private_assets_get_signed_playback_urls(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ingest.app import create_app
    from tests.ingest.conftest import make_settings
    from tests.ingest.harness import ServerThread

    settings = make_settings(tmp_path, "filesystem", signing_secret="s3cret")
    with ServerThread(create_app(settings)) as srv:
        tus = Tus(srv.url, "test-token")
        tus.new(5)
        asset_id = tus.get("/assets").json()[0]["id"]
        _publish(settings, asset_id, public=False)
        hls = tus.get(f"/assets/{asset_id}").json()["playback"]["hls"]
        tus.close()
    url, _, token = hls.partition("?token=")
    assert url.endswith(f"{asset_id}/master.m3u8")
    grant = verify_token(b"s3cret", token, asset_id, now=datetime.now(UTC).timestamp())
    assert grant.asset_id == asset_id
