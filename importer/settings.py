"""Limits of imports from a URL: composed by ingest (checks the URL when it is given) and the workers."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.settings import data_dir

GIB = 1024**3


class ImportSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VODSTACK_IMPORT_", extra="ignore")

    # Let source URLs resolve to private, loopback, link-local or reserved addresses (at every
    # redirect). Off: refused with the reason. For sources on the operator's own network, and tests.
    allow_private_sources: bool = False
    # Largest source accepted (bytes): refused from its Content-Length, or when the body passes it.
    max_bytes: int = 20 * GIB
    # The whole download, resumes included, must finish within this many seconds.
    total_seconds: float = 6 * 3600.0
    # Timeouts of one connection: to connect, and between two reads of the body.
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 60.0
    # Redirects followed (each target checked like the first URL).
    max_redirects: int = 5
    # A dropped connection is resumed (Range, when the server accepts it; else from the start) this often.
    max_resumes: int = 5
    # A running import marks its asset this often; one not marked for stale_seconds (its worker died:
    # the embedded broker hands nothing on) is queued again by the workers' beat, every
    # sweep_interval_seconds, and resumes from the partial download.
    heartbeat_seconds: float = 30.0
    stale_seconds: float = 300.0
    sweep_interval_seconds: float = 60.0
    # Partial downloads, kept across a worker restart so a retried import resumes from its bytes.
    spool_dir: Path = Field(default_factory=lambda: data_dir() / "imports")
