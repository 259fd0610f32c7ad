"""Where vodstack keeps data, and which object store it uses."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def data_dir() -> Path:
    """The embedded deployment's data directory: $VODSTACK_DATA_DIR, else ~/.vodstack."""
    raw = os.environ.get("VODSTACK_DATA_DIR")
    return Path(raw).expanduser() if raw else Path.home() / ".vodstack"


class StorageSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VODSTACK_STORAGE_", extra="ignore")

    # "filesystem" (embedded default, under `root`) or "s3" (MinIO or any S3 API).
    backend: Literal["filesystem", "s3"] = "filesystem"
    # Root directory of the filesystem backend; one subdirectory per bucket.
    root: Path = Field(default_factory=lambda: data_dir() / "objects")
    # Bucket for originals as uploaded.
    staging_bucket: str = "staging"
    # Bucket for published output (segments, playlists, thumbnails).
    media_bucket: str = "media"
    # S3 endpoint as host:port, credentials and TLS; used when backend == "s3".
    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: str = "minioadmin"
    s3_secret_key: str = "minioadmin"
    s3_secure: bool = False
    s3_region: str | None = None
    # Prepended to bucket names, so several deployments can share one S3 account.
    s3_bucket_prefix: str = ""
