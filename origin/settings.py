"""Settings of the origin deployable (env VODSTACK_ORIGIN_*; nested: VODSTACK_ORIGIN_STORAGE__ROOT, ...)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from catalog.settings import CatalogSettings
from httpsemantics.caching import CachePolicy
from images.settings import ImageSettings
from storage.settings import StorageSettings
from tiering.settings import TieringSettings
from traffic.clients import parse_networks


class OriginSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VODSTACK_ORIGIN_", env_nested_delimiter="__", extra="ignore")

    # Where published objects live (the media bucket of this store).
    storage: StorageSettings = Field(default_factory=StorageSettings)
    # Lifecycle tiering of the media bucket (off by default); cold objects answer 503 + Retry-After.
    tiering: TieringSettings = Field(default_factory=TieringSettings)
    # Catalog: the per-asset public flag when access == "catalog", the tier index when tiering is on.
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    # Which assets need a signed token: "public" none, "signed" all, "catalog" those with Asset.public false.
    # The origin announces the answer per object in X-Vodstack-Access; edges enforce it.
    access: Literal["public", "signed", "catalog"] = "public"
    # HMAC secret for playback tokens (shared with the edges and the ingest API). Empty: signing disabled.
    signing_secret: str = ""
    # Also verify tokens here (a deployment with no edge in front). Edges verify in the normal topology.
    verify_tokens: bool = False
    # Proxies in front of the origin (CIDRs, JSON list): X-Forwarded-For is read, from the right, only
    # when the peer is one of them; otherwise the client address of IP-bound tokens is the socket peer.
    trusted_proxies: list[str] = []
    # Bearer token /metrics requires (Prometheus: `authorization` in the scrape config). Empty: open.
    metrics_token: str = ""
    # Seconds a catalog answer about an asset's access class is reused.
    access_cache_seconds: float = 30.0
    # Cache lifetimes sent in Cache-Control, seconds.
    immutable_max_age: int = 31_536_000  # segments, init segments
    vod_playlist_max_age: int = 60  # finished playlists / static MPDs
    stale_while_revalidate: int = 60
    stale_if_error: int = 86_400
    image_max_age: int = 86_400  # posters, thumbnails, storyboards, WebVTT
    not_found_max_age: int = 2  # 404s: short, progressive publish may create the object any moment
    growing_default_max_age: int = 1  # growing playlist without a target duration
    # Seconds in Retry-After when the store is unavailable.
    unavailable_retry_after: int = 2
    # Images made on demand from the published ladder (thumbnail.jpg?time=, animated.webp?start=).
    images: ImageSettings = Field(default_factory=ImageSettings)

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_proxies(cls, value: list[str]) -> list[str]:
        parse_networks(value)
        return value

    def cache_policy(self) -> CachePolicy:
        return CachePolicy(
            immutable_max_age=self.immutable_max_age,
            vod_playlist_max_age=self.vod_playlist_max_age,
            stale_while_revalidate=self.stale_while_revalidate,
            stale_if_error=self.stale_if_error,
            image_max_age=self.image_max_age,
            not_found_max_age=self.not_found_max_age,
            growing_default_max_age=self.growing_default_max_age,
        )
