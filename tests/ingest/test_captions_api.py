"""The caption API: upload before and after ready, validation with the line at fault, replace, delete,
owners, the manifests kept in step and the captions.ready webhook."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import m3u8
import pytest
from sqlalchemy import select

from catalog.captions import CaptionTrack
from catalog.keys import create_key
from catalog.models import Asset, AssetState
from catalog.session import Catalog
from manifests import dash, hls
from tests.ingest.harness import Tus
from tests.manifests.manifest_samples import ladder
from tests.webhooks.conftest import add_endpoint
from webhooks.models import WebhookDelivery

SRT = b"1\n00:00:01,000 --> 00:00:02,500\n<i>Hello</i> world\n\n2\n00:00:05,000 --> 00:00:06,000\nsecond\n"
VTT = b"WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nBonjour\n"


@pytest.fixture
def backend() -> str:
    return "filesystem"


def _make_ready(settings, ingest, asset_id: str) -> None:  # type: ignore[no-untyped-def]
    """What the job leaves: a master and an MPD under the attempt prefix, the asset ready."""
    videos, audios = ladder()
    media = settings.storage.media_bucket
    ingest.objects.put_bytes(media, f"{asset_id}/a1/master.m3u8", hls.render_master(videos, audios).encode())
    for track in videos:  # the caption grid is read from the first variant's EXTINFs
        ingest.objects.put_bytes(media, f"{asset_id}/a1/{track.playlist_uri}", hls.render_media(track).encode())
    ingest.objects.put_bytes(
        media, f"{asset_id}/a1/manifest.mpd", dash.render_mpd(videos, audios, duration=9.5).encode()
    )
    catalog = Catalog(settings.catalog, apply_migrations=False)
    with catalog.session() as s:
        asset = s.get(Asset, asset_id)
        asset.state, asset.duration = AssetState.READY, 9.5
        asset.master_key, asset.dash_key = f"{asset_id}/a1/master.m3u8", f"{asset_id}/a1/manifest.mpd"
        asset.ready_at = datetime.now(UTC)
    catalog.dispose()


def _put(tus: Tus, asset_id: str, lang: str, body: bytes, **params: str) -> httpx.Response:
    return tus.http.put(f"/assets/{asset_id}/captions/{lang}", content=body, params=params, headers=tus.auth)


def test_captions_before_and_after_ready(tus: Tus, server, settings) -> None:  # type: ignore[no-untyped-def]
    ingest = server.server.config.app.state.ingest
    add_endpoint(ingest.catalog, "operator", "https://hooks.example/in")
    tus.new(5)
    asset_id = tus.get("/assets").json()[0]["id"]

    early = _put(tus, asset_id, "EN-us", SRT, label="English", kind="captions")
    assert early.status_code == 201, early.text
    assert early.json() | {"id": "x"} == {
        "id": "x",
        "language": "en-US",
        "source": "upload",
        "label": "English",
        "kind": "captions",
        "default": False,
        "forced": False,
        "version": 1,
        "cues": 2,
        "published": False,
    }
    _make_ready(settings, ingest, asset_id)
    envelope = {"content": VTT.decode(), "label": "Français", "default": True}
    late = tus.http.put(f"/assets/{asset_id}/captions/fr", json=envelope, headers=tus.auth)
    assert late.status_code == 201 and late.json()["published"] and late.json()["default"]
    # The early track was published with the late one's change.
    listed = tus.get(f"/assets/{asset_id}/captions").json()
    assert [(t["language"], t["published"]) for t in listed] == [("en-US", True), ("fr", True)]

    media = settings.storage.media_bucket
    master = m3u8.loads(ingest.objects.get_bytes(media, f"{asset_id}/a1/master.m3u8").decode())
    subs = {m.language: m for m in master.media if m.type == "SUBTITLES"}
    assert set(subs) == {"en-US", "fr"} and subs["fr"].default == "YES"
    assert all(v.stream_info.subtitles == "subs" for v in master.playlists)
    en_playlist = ingest.objects.get_bytes(media, f"{asset_id}/a1/{subs['en-US'].uri}").decode()
    en_folder = f"{asset_id}/a1/" + subs["en-US"].uri.rpartition("/")[0]
    first = ingest.objects.get_bytes(media, f"{en_folder}/seg_00001.vtt").decode()
    assert "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000" in first and "<i>Hello</i> world" in first
    assert m3u8.loads(en_playlist).segments[0].uri == "seg_00001.vtt"
    mpd = ingest.objects.get_bytes(media, f"{asset_id}/a1/manifest.mpd").decode()
    assert mpd.count('contentType="text"') == 2 and 'lang="en-US"' in mpd

    # Replacing gives new URLs and removes the old ones.
    replaced = _put(tus, asset_id, "en-US", VTT, label="English", kind="captions")
    assert replaced.status_code == 200 and replaced.json()["version"] == 2
    master_text = ingest.objects.get_bytes(media, f"{asset_id}/a1/master.m3u8").decode()
    assert subs["en-US"].uri not in master_text and "/v2/index.m3u8" in master_text
    assert not any(o.key.startswith(en_folder + "/") for o in ingest.objects.list(media, f"{asset_id}/a1/captions/"))

    # Deleting removes the track from both entry points.
    assert tus.http.delete(f"/assets/{asset_id}/captions/en-US", headers=tus.auth).status_code == 204
    assert tus.http.delete(f"/assets/{asset_id}/captions/en-US", headers=tus.auth).status_code == 404
    master_text = ingest.objects.get_bytes(media, f"{asset_id}/a1/master.m3u8").decode()
    assert 'LANGUAGE="en-US"' not in master_text and 'LANGUAGE="fr"' in master_text
    assert 'lang="en-US"' not in ingest.objects.get_bytes(media, f"{asset_id}/a1/manifest.mpd").decode()

    with ingest.catalog.session() as s:
        events = [d.event_type for d in s.scalars(select(WebhookDelivery)).all()]
    # en-US at ready, fr, en-US again as version 2
    assert events.count("captions.ready") == 3


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"WEBVTT\n\n00:00:05.000 --> 00:00:04.000\nbackwards\n", 422, "line 3: the cue ends at 00:00:04.000"),
        (b"1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\nnonsense\nx\n", 422, "line 6: malformed cue timing"),
        (b"\xff\xfe1\n", 422, "line 1: not UTF-8"),
        (b"x" * (3 * 1024 * 1024), 413, "at most 2097152"),
    ],
)
def test_bad_files_are_refused_with_the_line(tus: Tus, body: bytes, status: int, message: str) -> None:
    tus.new(5)
    asset_id = tus.get("/assets").json()[0]["id"]
    answer = _put(tus, asset_id, "en", body)
    assert answer.status_code == status
    assert message in answer.json()["message"]
    assert tus.get(f"/assets/{asset_id}/captions").json() == []


@pytest.mark.parametrize(
    ("lang", "params", "error"),
    [
        ("english", {}, "invalid_language"),
        ("en_US", {}, "invalid_language"),
        ("en", {"kind": "chapters"}, "invalid_track_options"),
    ],
)
def test_bad_options(tus: Tus, lang: str, params: dict[str, str], error: str) -> None:
    tus.new(5)
    asset_id = tus.get("/assets").json()[0]["id"]
    answer = _put(tus, asset_id, lang, SRT, **params)
    assert (answer.status_code, answer.json()["error"]) == (422, error)


def test_owners_and_scopes(tus: Tus, server) -> None:  # type: ignore[no-untyped-def]
    ingest = server.server.config.app.state.ingest
    tus.new(5)
    asset_id = tus.get("/assets").json()[0]["id"]
    _, other = create_key(ingest.catalog, "mallory-key", frozenset({"upload", "read"}), "mallory")
    _, reader = create_key(ingest.catalog, "reader-key", frozenset({"read"}), "operator")
    as_other = {"Authorization": f"Bearer {other}"}
    assert tus.http.put(f"/assets/{asset_id}/captions/en", content=SRT, headers=as_other).status_code == 404
    assert tus.http.get(f"/assets/{asset_id}/captions", headers=as_other).status_code == 404
    assert tus.http.delete(f"/assets/{asset_id}/captions/en", headers=as_other).status_code == 404
    as_reader = {"Authorization": f"Bearer {reader}"}
    assert tus.http.put(f"/assets/{asset_id}/captions/en", content=SRT, headers=as_reader).status_code == 403
    assert tus.http.put(f"/assets/{asset_id}/captions/en", content=SRT).status_code == 401
    assert tus.http.put("/assets/nope/captions/en", content=SRT, headers=tus.auth).status_code == 404


def test_generation_setting(tus: Tus, server, settings, queue) -> None:  # type: ignore[no-untyped-def]
    ingest = server.server.config.app.state.ingest
    tus.new(5)
    asset_id = tus.get("/assets").json()[0]["id"]
    path = f"/assets/{asset_id}/caption-settings"
    assert tus.get(path).json() == {"generate": True}
    assert tus.http.put(path, json={"generate": False}, headers=tus.auth).json() == {"generate": False}
    assert tus.get(path).json() == {"generate": False}
    assert tus.http.put(path, json={"generate": "perhaps"}, headers=tus.auth).status_code == 422
    _, other = create_key(ingest.catalog, "eve-key", frozenset({"upload", "read"}), "eve")
    assert tus.http.put(path, json={"generate": True}, headers={"Authorization": f"Bearer {other}"}).status_code == 404
    before = [m for m in queue() if m["task"] == "transcoder.speech_captions"]
    _make_ready(settings, ingest, asset_id)
    assert tus.http.put(path, json={"generate": True}, headers=tus.auth).status_code == 200
    # Turned on once the asset is ready: the job is queued on the light queue now.
    queued = [m for m in queue() if m["task"] == "transcoder.speech_captions"]
    assert (before, [m["args"] for m in queued]) == ([], [[asset_id]])
    assert queued[0]["envelope"]["properties"]["delivery_info"]["routing_key"] == "light"


def test_deleting_the_asset_forgets_its_tracks(tus: Tus, server) -> None:  # type: ignore[no-untyped-def]
    ingest = server.server.config.app.state.ingest
    tus.new(5)
    asset_id = tus.get("/assets").json()[0]["id"]
    assert _put(tus, asset_id, "en", SRT).status_code == 201
    assert tus.http.delete(f"/assets/{asset_id}", headers=tus.auth).status_code == 204
    with ingest.catalog.session() as s:
        assert s.scalars(select(CaptionTrack).where(CaptionTrack.asset_id == asset_id)).all() == []
    assert tus.http.get(f"/assets/{asset_id}/captions", headers=tus.auth).status_code == 404
    assert _put(tus, asset_id, "en", SRT).status_code == 404
