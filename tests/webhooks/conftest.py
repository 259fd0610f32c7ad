"""A migrated SQLite catalog per test, and endpoints inserted directly (the API has its own tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog.session import Catalog
from catalog.settings import CatalogSettings
from webhooks.events import EVENT_TYPES
from webhooks.models import WebhookEndpoint
from webhooks.signing import new_secret


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    catalog = Catalog(CatalogSettings(url=f"sqlite:///{tmp_path / 'catalog.db'}"))
    yield catalog
    catalog.dispose()


def add_endpoint(catalog: Catalog, owner: str, url: str, types: tuple[str, ...] = EVENT_TYPES) -> WebhookEndpoint:
    with catalog.session() as session:
        endpoint = WebhookEndpoint(owner=owner, url=url, secret=new_secret(), event_types=list(types))
        session.add(endpoint)
        session.flush()
        return endpoint
