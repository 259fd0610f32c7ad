"""Where an asset's published package is, from the catalog: the prefix of the attempt that published
its multivariant playlist, only once the asset is ready (the whole ladder verified and published).

Blocking (a catalog query): call from a thread.
"""

from __future__ import annotations

from collections.abc import Callable

from catalog.models import Asset, AssetState
from catalog.session import Catalog
from catalog.settings import CatalogSettings
from images.errors import NotReady, UnknownAsset

# What a lookup answers: (state, master_key) of the asset, or None when there is no such asset.
Lookup = Callable[[str], "tuple[str, str | None] | None"]


class CatalogLookup:
    """A Lookup over the catalog, opened on first use (an origin that never makes an image never connects)."""

    def __init__(self, settings: CatalogSettings) -> None:
        self.settings = settings
        self._catalog: Catalog | None = None

    def __call__(self, asset_id: str) -> tuple[str, str | None] | None:
        if self._catalog is None:
            self._catalog = Catalog(self.settings, apply_migrations=False)
        with self._catalog.session() as session:
            asset = session.get(Asset, asset_id)
            return None if asset is None else (asset.state, asset.master_key)

    def dispose(self) -> None:
        if self._catalog is not None:
            self._catalog.dispose()


def catalog_lookup(settings: CatalogSettings) -> CatalogLookup:
    return CatalogLookup(settings)


def published_prefix(lookup: Lookup, asset_id: str) -> str:
    """ "{asset}/a{n}/" of a ready asset. Raises UnknownAsset (none, or deleted) or NotReady."""
    found = lookup(asset_id)
    if found is None or found[0] == AssetState.DELETED:
        raise UnknownAsset(f"no asset {asset_id}")
    state, master_key = found
    if state == AssetState.FAILED:
        raise NotReady("the asset failed to transcode: it has no images")
    if state != AssetState.READY or not master_key:
        raise NotReady(f"the asset is {state}: images are made once it is ready")
    prefix = master_key.rpartition("/")[0] + "/"
    if not prefix.startswith(f"{asset_id}/"):
        raise UnknownAsset(f"no asset {asset_id}")
    return prefix
