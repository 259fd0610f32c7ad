"""Settings of the ingest API (one deployable: the TUS server plus the asset API)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from catalog.settings import CatalogSettings
from edgepurge.settings import PurgeSettings
from importer.settings import ImportSettings
from jobs.settings import BrokerSettings
from media.settings import PosterSettings, ProbeSettings
from storage.settings import StorageSettings, data_dir, persistent_secret
from traffic.clients import parse_networks
from traffic.settings import RateLimitSettings
from webhooks.settings import WebhookSettings

GIB = 1024**3


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VODSTACK_INGEST_", env_nested_delimiter="__", extra="ignore")

    storage: StorageSettings = Field(default_factory=StorageSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    # Cache nodes purged when an asset is deleted (VODSTACK_PURGE_*) and URL imports (VODSTACK_IMPORT_*).
    purge: PurgeSettings = Field(default_factory=PurgeSettings)
    imports: ImportSettings = Field(default_factory=ImportSettings)
    # Admin bearer tokens (every scope, every owner's objects; their uploads belong to "operator").
    # Empty: one development token kept in data_dir()/dev-token (created on first use; `vodstack up`
    # prints it). Scoped keys per owner: `vodstack keys create`.
    tokens: list[str] = Field(default_factory=list)
    # Origins (scheme://host[:port]) whose pages may call this API from a browser (CORS). Empty: none
    # but the API's own origin, which is where the web page is served.
    cors_origins: list[str] = Field(default_factory=list)
    # Bearer token /metrics requires (Prometheus: `authorization` in the scrape config). Empty: open.
    metrics_token: str = ""
    # Largest upload accepted, advertised as Tus-Max-Size (bytes).
    max_size: int = 20 * GIB
    # An unfinished upload untouched for this long expires and its bytes are reclaimed.
    upload_expiry_seconds: int = 24 * 3600
    # Base URL clients use to reach this server (for Location); empty: derived from each request.
    public_url: str = ""
    # Base URL of the edge, for playback URLs in the asset API.
    playback_base_url: str = "http://127.0.0.1:8703"
    # HMAC secret for playback tokens of non-public assets (the origin's and edges' signing_secret).
    # Empty: playback URLs are never signed.
    signing_secret: str = ""
    # Lifetime of a playback token handed out by the asset API.
    playback_token_seconds: int = 6 * 3600
    # Per-upload lock: "memory" (one process), "redis" (several processes, `redis_url`) or
    # "catalog" (several processes sharing the catalog database).
    lock_backend: Literal["memory", "redis", "catalog"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # A lock whose holder has not renewed it for this long belongs to a dead process.
    lock_lease_seconds: float = 10.0
    # How long a request waits for a live holder to hand an upload over before taking it anyway. A live
    # holder hands over at its next chunk boundary, even on a stalled connection, and a dead one's lease
    # runs out after lock_lease_seconds; this bounds only a holder stuck in one storage write (a slow
    # S3 part), so it is generous: taking over in the middle of that write could interleave parts.
    lock_takeover_seconds: float = 30.0
    # Period of the cleanup that expires stale uploads and reclaims their bytes; 0 disables it.
    cleanup_interval_seconds: float = 300.0
    # The cleanup leaves storage leftovers younger than this alone (their creation may be in flight).
    sweep_grace_seconds: float = 3600.0
    # Partial uploads of the filesystem backend (and local scratch of the S3 backend).
    spool_dir: Path = Field(default_factory=lambda: data_dir() / "uploads")
    # S3 backend: preferred multipart part size; grown per upload to stay under 10,000 parts.
    s3_part_size: int = 8 * 1024 * 1024
    # Run the media probe on finished uploads before queueing a transcode ...
    probe_on_completion: bool = True
    # ... in a sandboxed child with these limits (VODSTACK_PROBE_*).
    probe: ProbeSettings = Field(default_factory=ProbeSettings)
    # Creator posters (VODSTACK_POSTER_*): body size, pixel limit, widths, their child's limits.
    poster: PosterSettings = Field(default_factory=PosterSettings)
    # Rate limits (env VODSTACK_RATELIMIT_*, traffic/settings.py); off when rate_limits_enabled is false.
    ratelimit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    rate_limits_enabled: bool = True
    # Proxies in front of this service (CIDRs, JSON list): the client address of anonymous callers'
    # rate limits comes from X-Forwarded-For only when the peer is one of them, read from the right.
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_proxies(cls, value: list[str]) -> list[str]:
        parse_networks(value)
        return value

    @field_validator("cors_origins")
    @classmethod
    def _explicit_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if "*" in origin or not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
                raise ValueError(f"CORS origins are listed one by one as scheme://host[:port], not {origin!r}")
        return [origin.rstrip("/") for origin in origins]


def dev_token(settings: IngestSettings) -> str:
    """The development upload token: read from data_dir()/dev-token, created there if missing."""
    return persistent_secret(data_dir() / "dev-token", 24)


def accepted_tokens(settings: IngestSettings) -> dict[str, str]:
    """The configured admin tokens by their name in the audit log."""
    if settings.tokens:
        return {f"configured token {n}": token for n, token in enumerate(settings.tokens, 1)}
    return {"dev token": dev_token(settings)}
