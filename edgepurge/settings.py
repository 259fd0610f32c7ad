"""Where deleted assets are purged: composed by ingest (records and tries at once) and the workers (retry)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class PurgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VODSTACK_PURGE_", extra="ignore")

    # Base URLs of the cache nodes to purge (JSON list), shields before the edges below them: a node is
    # purged only after every node listed before it confirmed, so an edge cannot refill from a stale
    # shield. Empty: no caches to purge (`vodstack up` lists its shield and edge).
    targets: list[str] = []
    # Bearer token of the nodes' POST /_purge (their VODSTACK_EDGE_PURGE_TOKEN).
    token: str = ""
    # Connect/read timeout of one purge request (seconds).
    timeout_seconds: float = 5.0
    # A purge a node did not confirm is retried after about this long, doubling up to max_retry_seconds,
    # for as long as it takes (a node that never answers is logged at every attempt).
    first_retry_seconds: float = 5.0
    max_retry_seconds: float = 600.0
    # How often the workers' beat retries due purges.
    sweep_interval_seconds: float = 10.0
