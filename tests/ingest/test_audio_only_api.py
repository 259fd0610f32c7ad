"""An audio-only asset on the asset API: `kind` from the worker's probe, its waveform as `waveform` and as
the `poster` (a creator's poster still wins), no storyboard; a video asset unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from catalog.models import Asset, AssetState
from catalog.session import Catalog
from ingest.assets import WAVEFORM_FILE
from tests.ingest.harness import Tus, metadata
from transcoder.encode.commands import WAVEFORM_NAME

EDGE = "http://127.0.0.1:8703"


@pytest.fixture
def backend() -> str:
    return "filesystem"


def _set(settings: Any, asset_id: str, **values: object) -> None:
    catalog = Catalog(settings.catalog, apply_migrations=False)
    try:
        with catalog.session() as s:
            asset = s.get(Asset, asset_id)
            assert asset is not None
            for name, value in values.items():
                setattr(asset, name, value)
    finally:
        catalog.dispose()


def _ready(asset_id: str) -> dict[str, object]:
    return {"state": AssetState.READY, "ready_at": datetime.now(UTC), "master_key": f"{asset_id}/a1/master.m3u8"}


def test_an_audio_only_asset_says_so_and_shows_its_waveform(tus: Tus, settings: Any) -> None:
    tus.new(5, headers={"Upload-Metadata": metadata(filename="song.mp3")})
    asset_id = tus.get("/assets").json()[0]["id"]
    body = tus.get(f"/assets/{asset_id}").json()
    assert body["kind"] is None and body["playback"]["waveform"] is None  # not probed yet

    probe = {"format": "mp3", "duration": 5.0, "video": None, "audio": {"codec": "mp3", "channels": 2}}
    _set(settings, asset_id, probe=probe)
    body = tus.get(f"/assets/{asset_id}").json()
    assert body["kind"] == "audio" and body["playback"]["waveform"] is None  # not ready: nothing published

    _set(settings, asset_id, **_ready(asset_id))
    body = tus.get(f"/assets/{asset_id}").json()
    waveform = f"{EDGE}/{asset_id}/a1/{WAVEFORM_NAME}"
    assert body["kind"] == "audio" and body["width"] is None and body["height"] is None
    assert body["playback"]["waveform"] == waveform and body["playback"]["poster"] == waveform
    assert body["playback"]["storyboard"] is None
    assert WAVEFORM_FILE == WAVEFORM_NAME  # the ingest's copy of the transcoder's name


def test_a_video_asset_keeps_its_poster_and_storyboard(tus: Tus, settings: Any) -> None:
    tus.new(5, headers={"Upload-Metadata": metadata(filename="clip.mp4")})
    asset_id = tus.get("/assets").json()[0]["id"]
    _set(settings, asset_id, probe={"format": "mp4", "duration": 5.0, "video": {"codec": "h264"}}, **_ready(asset_id))
    body = tus.get(f"/assets/{asset_id}").json()
    assert body["kind"] == "video" and body["playback"]["waveform"] is None
    assert body["playback"]["poster"] == f"{EDGE}/{asset_id}/a1/poster.jpg"
    assert body["playback"]["storyboard"] == f"{EDGE}/{asset_id}/a1/storyboard.vtt"
