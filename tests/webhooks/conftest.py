"""A migrated SQLite catalog per test, and endpoints inserted directly (the API has its own tests)."""

from __future__ import annotations

from datetime import UTC, datetime

from catalog.session import Catalog
from tests.catalogs import catalog_fixture, postgres_catalog  # noqa: F401 - fixtures
from webhooks.events import EVENT_TYPES
from webhooks.models import WebhookEndpoint
from webhooks.signing import new_secret


def as_utc(value: datetime) -> datetime:
    """A catalog time in UTC (SQLite hands back naive UTC, PostgreSQL aware in the session's zone)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def add_endpoint(catalog: Catalog, owner: str, url: str, types: tuple[str, ...] = EVENT_TYPES) -> WebhookEndpoint:
    with catalog.session() as session:
        endpoint = WebhookEndpoint(owner=owner, url=url, secret=new_secret(), event_types=list(types))
        session.add(endpoint)
        session.flush()
        return endpoint
