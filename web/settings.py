"""Settings of the web page (env VODSTACK_WEB_*)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VODSTACK_WEB_", extra="ignore")

    # Base URL of the ingest API (TUS endpoint and asset API) as the browser reaches it.
    # Empty: the page's own origin, which is right when the page is mounted on the ingest service.
    api_base_url: str = ""
    # Bytes per PATCH request of the browser upload: smaller survives proxies with body-size limits
    # and loses less on a dropped connection, larger costs fewer round trips.
    upload_chunk_bytes: int = 8 * 1024 * 1024
    # How often the asset list refreshes, in milliseconds.
    poll_interval_ms: int = 1500
