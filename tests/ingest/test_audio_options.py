"""The asset's audio: Upload-Metadata "loudnorm" (on/off, anything else a 400), and the audio tracks with
their measured loudness in the asset API."""

from __future__ import annotations

import pytest

from catalog.models import Asset
from catalog.session import Catalog
from tests.ingest.harness import Tus, metadata


@pytest.fixture
def backend() -> str:
    return "filesystem"


@pytest.mark.parametrize(("value", "stored"), [("off", False), ("OFF", False), ("on", True), ("false", False)])
def test_loudnorm_metadata_sets_the_assets_option(tus: Tus, value: str, stored: bool) -> None:
    tus.new(5, headers={"Upload-Metadata": metadata(filename="a.mp4", loudnorm=value)})
    (listed,) = tus.get("/assets").json()
    assert listed["loudnorm"] is stored


def test_without_loudnorm_metadata_the_workers_setting_applies(tus: Tus) -> None:
    tus.new(5, headers={"Upload-Metadata": metadata(filename="a.mp4")})
    (listed,) = tus.get("/assets").json()
    assert listed["loudnorm"] is None and listed["audio_tracks"] == []


@pytest.mark.parametrize(
    "header",
    [metadata(filename="a.mp4", loudnorm="loud"), metadata(loudnorm="-16"), metadata(filename="a.mp4") + ",loudnorm"],
)
def test_a_loudnorm_value_that_is_not_on_or_off_is_refused(tus: Tus, header: str) -> None:
    r = tus.create(5, headers={"Upload-Metadata": header})
    assert r.status_code == 400 and "'loudnorm' must be 'on' or 'off'" in r.text
    assert tus.get("/assets").json() == []


def test_the_asset_lists_its_audio_tracks_with_their_loudness(tus: Tus, settings) -> None:  # type: ignore[no-untyped-def]
    tus.new(5, headers={"Upload-Metadata": metadata(filename="a.mp4")})
    (listed,) = tus.get("/assets").json()
    track = {
        "name": "audio-1",
        "language": "fr",
        "label": "Français",
        "channels": 2,
        "default": False,
        "role": "main",
        "normalised": True,
        "input_loudness": {"integrated": -27.5, "true_peak": -8.25, "lra": 4.0},
        "output_loudness": {"integrated": -16.1, "true_peak": -1.5, "lra": 3.5},
    }
    catalog = Catalog(settings.catalog, apply_migrations=False)
    with catalog.session() as s:
        s.get(Asset, listed["id"]).audio_tracks = [track]  # type: ignore[union-attr]
    catalog.dispose()
    assert tus.get(f"/assets/{listed['id']}").json()["audio_tracks"] == [track]
