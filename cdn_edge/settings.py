"""Settings of one cache node (env VODSTACK_EDGE_*). Edges and the shield are the same program: `role`
says which, `upstream_url` says what it sits in front of (the shield for an edge, the origin for
the shield)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.settings import data_dir
from traffic.clients import parse_networks
from traffic.ratelimit import Policy

MiB = 1024 * 1024


class EdgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VODSTACK_EDGE_", extra="ignore")

    # Node name: the Cache-Status cache name and the `node` label of every metric.
    name: str = "edge"
    # "edge" verifies playback tokens and rewrites playlists; "shield" trusts its edges.
    role: Literal["edge", "shield"] = "edge"
    # Base URL of the upstream (no trailing slash needed).
    upstream_url: str = "http://127.0.0.1:8081"
    # Memory tier budget, and the largest object it takes (bigger ones live on disk only).
    memory_budget_bytes: int = 256 * MiB
    memory_max_object_bytes: int = 16 * MiB
    # Disk tier directory and budget; a budget of 0 disables the disk tier.
    disk_dir: Path | None = None  # default: data_dir()/cache/<name>
    disk_budget_bytes: int = 4096 * MiB
    # Fills (upstream fetches that populate the cache) running at once; the others wait for a slot.
    # Each holds at most memory_max_object_bytes in memory (objects bound for the memory tier) or
    # about 1 MiB (the others stream to a file in disk_dir).
    max_concurrent_fills: int = 32
    # Eviction policy of both tiers: "lru", "s3fifo" (admission keeps one-hit wonders out), "sieve".
    eviction: Literal["lru", "s3fifo", "sieve"] = "s3fifo"
    # HMAC secret(s) for playback tokens; empty disables token checks. The previous secret keeps
    # URLs signed before a rotation valid until they expire.
    signing_secret: str = ""
    signing_previous_secret: str = ""
    # Load balancers / proxies in front of this node (CIDRs, JSON list: '["10.0.0.0/8"]'). The client
    # address (IP-bound tokens, rate limits) comes from X-Forwarded-For only when the peer is one of
    # them, read from the right; otherwise it is the socket peer.
    trusted_proxies: list[str] = []
    # Requests per client address (the peer, or X-Forwarded-For from trusted_proxies) in limits'
    # notation, e.g. "6000/minute"; empty: no limit. Counted in this node's memory: the hit path
    # cannot wait for a shared store, and a client is served by the one edge nearest to it.
    rate_limit_per_client: str = ""
    # Viewer QoE from CMCD and the player's beacon (POST /qoe), on edges only (cdn_edge/qoe.py).
    qoe_enabled: bool = True
    # Sessions tracked at once (the oldest forgotten beyond), and idle seconds before one ends (a
    # session that ends before any media counts as a start failure).
    qoe_max_sessions: int = Field(default=100_000, ge=1)
    qoe_session_ttl_seconds: float = Field(default=120.0, gt=0)
    # Follow one CMCD session in this many (a keyed hash of its sid), each counting for as many
    # (cdn_edge/qoe.py). With the compiled tracker a hit carrying CMCD costs about 1.06x a plain hit's
    # instructions with 1 (every session, exact counts) and 1.075x with 16: sampling buys nothing; with
    # the Python one about 2.4x with 1 and 1.2x with 16 (BENCHMARKS.md, "CMCD on the hit path").
    qoe_sample_one_in: int = Field(default=1, ge=1)
    # Which CMCD tracker: "auto" (the compiled cdn_edge/qoe_compiled.pyx when it was built, else
    # cdn_edge/qoe.py), "compiled" (refuse to start without it) or "python" (the reference).
    qoe_implementation: Literal["auto", "compiled", "python"] = "auto"
    # Beacons per client address, in limits' notation.
    qoe_beacon_rate: str = "30/minute"
    # Bearer token /metrics requires (Prometheus: `authorization` in the scrape config). Empty: open.
    metrics_token: str = ""
    # Bearer token of the purge API; empty disables purging.
    purge_token: str = ""
    # Seconds a 404 is cached (negative caching); at most what the upstream allows.
    negative_ttl: float = 2.0
    # Seconds a 503 with Retry-After (e.g. a cold object being restored) is cached, at most Retry-After.
    unavailable_ttl: float = 1.0
    # Upstream timeouts (seconds) and connection pool size.
    upstream_connect_timeout: float = 3.0
    upstream_read_timeout: float = 30.0
    upstream_max_connections: int = 200
    # Circuit breaker: consecutive failures that open it, and seconds before one probe is let through.
    breaker_failure_threshold: int = 5
    breaker_cooldown_seconds: float = 2.0

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_proxies(cls, value: list[str]) -> list[str]:
        parse_networks(value)
        return value

    @field_validator("rate_limit_per_client", "qoe_beacon_rate")
    @classmethod
    def _valid_limit(cls, value: str) -> str:
        if value:
            Policy.parse("edge", value)
        return value

    @model_validator(mode="after")
    def _default_disk_dir(self) -> EdgeSettings:
        if self.disk_dir is None:
            self.disk_dir = data_dir() / "cache" / self.name
        return self

    def spool_dir(self) -> Path:
        """Where bodies no tier will keep are spooled (unlinked files) while their waiters read them."""
        return (self.disk_dir or data_dir() / "cache" / self.name) / "fill"

    def secrets(self) -> list[bytes]:
        return [s.encode() for s in (self.signing_secret, self.signing_previous_secret) if s]
