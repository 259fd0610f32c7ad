"""Which database holds the catalog."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.settings import data_dir


class CatalogSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VODSTACK_CATALOG_", extra="ignore")

    # SQLAlchemy URL. Embedded default: a SQLite file in the data directory.
    # PostgreSQL: postgresql+psycopg://user@host:5432/dbname
    url: str = Field(default_factory=lambda: f"sqlite:///{data_dir() / 'catalog.db'}")
