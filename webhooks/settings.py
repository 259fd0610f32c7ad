"""Settings of webhook registration (ingest) and delivery (workers): one class, composed by both."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VODSTACK_WEBHOOKS_", extra="ignore")

    # Let endpoints resolve to private, loopback, link-local or reserved addresses. Off: such URLs
    # are refused at registration (400) and at send time (the delivery fails). For a receiver on
    # the operator's own network, and for tests.
    allow_private_targets: bool = False
    # Connect, write and read timeout of one delivery attempt (seconds); redirects are never followed.
    timeout_seconds: float = 5.0
    # Backoff: the first retry comes after about this many seconds, each next one after about twice
    # as long, up to max_retry_seconds; retries go on until the event is retry_window_seconds old.
    first_retry_seconds: float = 5.0
    max_retry_seconds: float = 3600.0
    retry_window_seconds: float = 24 * 3600.0
    # How often the beat sends due deliveries (the first attempt of an event waits at most this long).
    sweep_interval_seconds: float = 5.0
    # Deliveries one claim takes (a sweep goes on while full batches come back, up to max_batches).
    # A batch is sent one after the other and held for batch_size * 3 * timeout_seconds + 60 s, which
    # is how long a worker killed mid-batch delays its deliveries: keep batches small.
    batch_size: int = 10
    max_batches: int = 50
    # Delivered and failed deliveries (with their attempts) are kept this long for the API, then pruned.
    retention_days: float = 30.0
    # Endpoints one owner may register.
    max_endpoints_per_owner: int = 20
