"""Where vodstack keeps data, and which object store it uses."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def persistent_secret(path: Path, nbytes: int = 32) -> str:
    """A random secret kept in `path`: read if present, else created there (mode 0600).

    O_EXCL makes concurrent starters agree: exactly one writes, the others read what it wrote.
    """
    for _ in range(50):
        try:
            secret = path.read_text().strip()
            if secret:
                return secret
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue  # another process won the race: read its secret
            secret = secrets.token_urlsafe(nbytes)
            with os.fdopen(fd, "w") as f:
                f.write(secret + "\n")
            return secret
        time.sleep(0.02)  # created but not written yet by the process that won
    raise RuntimeError(f"{path} exists but stays empty; remove it to have a new secret made")


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
