"""Rate limit settings of the ingest API (env VODSTACK_RATELIMIT_*). Limits are in limits' notation
("600/minute", "10 per hour"); an empty one is off. The edge's per-client limit is an edge setting
(VODSTACK_EDGE_RATE_LIMIT_PER_CLIENT)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from traffic.ratelimit import CONTENT_BYTES, Policy

GIB = 1024**3


class RateLimitSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VODSTACK_RATELIMIT_", extra="ignore")

    # Where budgets live: "" is this process's memory, unless the ingest lock backend is Redis (then
    # its redis_url, so every replica spends one budget); "redis://host:6379/0" names one explicitly.
    storage_url: str = ""
    # API calls (every request but /healthz, /metrics and CORS preflights) per identity, by class of
    # caller: "anonymous" (no valid key: per client address) or "key" (per bearer key). JSON object.
    api: dict[str, str] = Field(default_factory=lambda: {"anonymous": "120/minute", "key": "1200/minute"})
    # Uploads created per key.
    upload_create: str = "600/hour"
    # Body bytes of PATCH (and creation-with-upload) per key; a request is charged its Content-Length
    # when it starts, at most a whole window's budget. Refused requests are charged too (the counter
    # only grows, atomically): a client retrying too early keeps its budget spent.
    upload_bytes: str = f"{200 * GIB}/hour"

    @field_validator("api")
    @classmethod
    def _valid_api(cls, value: dict[str, str]) -> dict[str, str]:
        for name, limit in value.items():
            if limit:
                Policy.parse(f"api-{name}", limit)
        return value

    @field_validator("upload_create", "upload_bytes")
    @classmethod
    def _valid_limit(cls, value: str) -> str:
        if value:
            Policy.parse("limit", value)
        return value

    def api_policies(self) -> dict[str, Policy]:
        return {name: Policy.parse(f"api-{name}", limit) for name, limit in self.api.items() if limit}

    def create_policy(self) -> Policy | None:
        return Policy.parse("upload-create", self.upload_create) if self.upload_create else None

    def bytes_policy(self) -> Policy | None:
        return Policy.parse("upload-bytes", self.upload_bytes, CONTENT_BYTES) if self.upload_bytes else None
