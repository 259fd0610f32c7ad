"""A migrated catalog per test, on SQLite and (marked postgres) on PostgreSQL: the `catalog` fixture.

Import `catalog_fixture` with `postgres_catalog` beside it (the PostgreSQL case asks for that fixture by name)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog.session import Catalog
from catalog.settings import CatalogSettings
from tests.transcoder.services import postgres_catalog  # noqa: F401 - fixture


# Named apart from its fixture, so that a test's `catalog` parameter does not shadow the import.
@pytest.fixture(name="catalog", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    if request.param == "postgres":
        settings = request.getfixturevalue("postgres_catalog")
    else:
        settings = CatalogSettings(url=f"sqlite:///{tmp_path / 'catalog.db'}")
    catalog = Catalog(settings)
    yield catalog
    catalog.dispose()
