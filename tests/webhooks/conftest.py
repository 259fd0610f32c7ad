"""A migrated SQLite catalog per test, and endpoints inserted directly (the API has its own tests)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from catalog.session import Catalog
from catalog.settings import CatalogSettings
from tests.transcoder.services import postgres_catalog  # noqa: F401 - fixture
from webhooks.events import EVENT_TYPES
from webhooks.models import WebhookEndpoint
from webhooks.signing import new_secret


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    if request.param == "postgres":
        settings = request.getfixturevalue("postgres_catalog")
    else:
        settings = CatalogSettings(url=f"sqlite:///{tmp_path / 'catalog.db'}")
    catalog = Catalog(settings)
    yield catalog
    catalog.dispose()


def as_utc(value: datetime) -> datetime:
    """A catalog time in UTC (SQLite hands back naive UTC, PostgreSQL aware in the session's zone)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def add_endpoint(catalog: Catalog, owner: str, url: str, types: tuple[str, ...] = EVENT_TYPES) -> WebhookEndpoint:
    with catalog.session() as session:
        endpoint = WebhookEndpoint(owner=owner, url=url, secret=new_secret(), event_types=list(types))
        session.add(endpoint)
        session.flush()
        return endpoint
