"""Settings of the broker, for whoever queues jobs (ingest) and whoever consumes them (the workers)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.settings import data_dir


class BrokerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VODSTACK_BROKER_", extra="ignore")

    # Celery broker URL. Embedded default "filesystem://": kombu's filesystem transport in
    # `folder`, no server needed. Scaled out: redis://host:6379/0 or amqp://guest:guest@host//
    url: str = "filesystem://"
    # Message folder of the filesystem transport.
    folder: Path = Field(default_factory=lambda: data_dir() / "broker")
