"""Downloads on the asset API: listed with URLs once ready; Upload-Metadata "mp4_downloads" sets the
asset's option and garbage there is a 400 before anything is stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from catalog.models import Asset, AssetState
from catalog.session import Catalog
from tests.ingest.harness import Tus, metadata

DOWNLOAD = {
    "name": "clip-360p.mp4",
    "kind": "video",
    "size": 123456,
    "duration": 6.0,
    "width": 640,
    "height": 360,
}


@pytest.fixture
def backend() -> str:
    return "filesystem"


def _asset(settings, asset_id: str) -> Asset:  # type: ignore[no-untyped-def]
    catalog = Catalog(settings.catalog, apply_migrations=False)
    try:
        with catalog.session() as s:
            asset = s.get(Asset, asset_id)
            assert asset is not None
            s.expunge(asset)
            return asset
    finally:
        catalog.dispose()


def test_downloads_listed_when_ready(tus: Tus, settings) -> None:  # type: ignore[no-untyped-def]
    tus.new(5, headers={"Upload-Metadata": metadata(filename="clip.mp4")})
    asset_id = tus.get("/assets").json()[0]["id"]
    catalog = Catalog(settings.catalog, apply_migrations=False)
    with catalog.session() as s:
        asset = s.get(Asset, asset_id)
        asset.downloads = [{**DOWNLOAD, "key": f"{asset_id}/a1/downloads/clip-360p.mp4"}]
    assert tus.get(f"/assets/{asset_id}").json()["downloads"] == []  # not ready: nothing to offer yet
    with catalog.session() as s:
        asset = s.get(Asset, asset_id)
        asset.state, asset.ready_at, asset.master_key = (
            AssetState.READY,
            datetime.now(UTC),
            f"{asset_id}/a1/master.m3u8",
        )
    catalog.dispose()
    body = tus.get(f"/assets/{asset_id}").json()
    assert body["downloads"] == [{**DOWNLOAD, "url": f"http://127.0.0.1:8703/{asset_id}/a1/downloads/clip-360p.mp4"}]


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("false", False), ("TRUE", True), ("0", False)])
def test_metadata_sets_the_option(tus: Tus, settings, value: str | None, expected: bool | None) -> None:  # type: ignore[no-untyped-def]
    meta = {"filename": "clip.mp4"} | ({"mp4_downloads": value} if value is not None else {})
    tus.new(5, headers={"Upload-Metadata": metadata(**meta)})
    asset_id = tus.get("/assets").json()[0]["id"]
    assert _asset(settings, asset_id).mp4_downloads is expected


def test_garbage_option_is_400(tus: Tus) -> None:
    r = tus.create(5, headers={"Upload-Metadata": metadata(filename="clip.mp4", mp4_downloads="maybe")})
    assert r.status_code == 400
    assert "mp4_downloads" in r.text and "true or false" in r.text
    assert tus.get("/assets").json() == []


def test_source_colour_from_the_probe(tus: Tus, settings) -> None:  # type: ignore[no-untyped-def]
    tus.new(5)
    asset_id = tus.get("/assets").json()[0]["id"]
    assert tus.get(f"/assets/{asset_id}").json()["source_colour"] is None  # not probed yet
    colour = {"primaries": "bt2020", "transfer": "arib-std-b67", "matrix": "bt2020nc", "range": "tv",
              "bit_depth": 10, "dolby_vision": True, "hdr10_plus": False, "mastering_metadata": False}  # fmt: skip
    catalog = Catalog(settings.catalog, apply_migrations=False)
    with catalog.session() as s:
        s.get(Asset, asset_id).probe = {"video": {"colour": colour}}
    catalog.dispose()
    assert tus.get(f"/assets/{asset_id}").json()["source_colour"] == {
        "hdr": "hlg", "primaries": "bt2020", "transfer": "arib-std-b67", "bit_depth": 10,
        "dolby_vision": True, "hdr10_plus": False,
    }  # fmt: skip
