"""Fixtures for the external services split-and-stitch runs against when configured: PostgreSQL, Redis."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from catalog.settings import CatalogSettings


@pytest.fixture
def postgres_catalog() -> Iterator[CatalogSettings]:
    """A fresh PostgreSQL database (VODSTACK_TEST_POSTGRES_URL), dropped afterwards."""
    import psycopg

    base = os.environ["VODSTACK_TEST_POSTGRES_URL"]
    name = f"vodstack_split_{secrets.token_hex(4)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    head, _, _ = base.rpartition("/")
    yield CatalogSettings(url=f"{head}/{name}".replace("postgresql://", "postgresql+psycopg://", 1))
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def redis_broker_url() -> str:
    """A Redis database (VODSTACK_TEST_REDIS_URL) emptied for this test."""
    import redis

    url = f"{os.environ['VODSTACK_TEST_REDIS_URL'].rstrip('/')}/{secrets.randbelow(14) + 1}"
    redis.Redis.from_url(url).flushdb()
    return url
