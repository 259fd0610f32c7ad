"""Where a ready asset's package is, read from the catalog on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.models import Asset, AssetState
from catalog.session import Catalog
from catalog.settings import CatalogSettings
from images.errors import NotReady, UnknownAsset
from images.published import catalog_lookup, published_prefix
from tests.transcoder.services import postgres_catalog

__all__ = ["postgres_catalog"]  # a fixture of this module


def _check(settings: CatalogSettings) -> None:
    catalog = Catalog(settings)
    with catalog.session() as s:
        s.add_all([
            Asset(id="ready1", state=AssetState.READY, master_key="ready1/a2/master.m3u8"),
            Asset(id="busy1", state=AssetState.PROCESSING, master_key="busy1/a1/master.m3u8"),  # playable, not ready
            Asset(id="failed1", state=AssetState.FAILED),
            Asset(id="gone1", state=AssetState.DELETED, master_key="gone1/a1/master.m3u8"),
            Asset(id="forged", state=AssetState.READY, master_key="ready1/a2/master.m3u8"),  # another's prefix
        ])  # fmt: skip
    lookup = catalog_lookup(settings)
    assert published_prefix(lookup, "ready1") == "ready1/a2/"
    for asset_id, error in [("busy1", NotReady), ("failed1", NotReady), ("gone1", UnknownAsset),
                            ("nobody", UnknownAsset), ("forged", UnknownAsset)]:  # fmt: skip
        with pytest.raises(error):
            published_prefix(lookup, asset_id)
    lookup.dispose()
    catalog.dispose()


def test_sqlite(tmp_path: Path) -> None:
    _check(CatalogSettings(url=f"sqlite:///{tmp_path / 'catalog.db'}"))


@pytest.mark.postgres
def test_postgres(postgres_catalog: CatalogSettings) -> None:
    _check(postgres_catalog)
