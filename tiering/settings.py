"""Settings of lifecycle tiering (env VODSTACK_TIERING_*), shared by the origin and the beat worker."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from tiering.index import Tier


class TieringSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VODSTACK_TIERING_", extra="ignore")

    # Off by default: the embedded deployment keeps everything hot. When on, the tier of every object
    # is kept in the catalog (VODSTACK_CATALOG_URL), shared by every origin and the beat worker.
    enabled: bool = False
    # Days without a read before hot -> warm and warm -> cold.
    warm_after_days: float = 30.0
    cold_after_days: float = 90.0
    # Seconds a restore of a cold object takes (S3 Glacier: minutes to hours), and days the copy lasts.
    restore_seconds: float = 4 * 3600.0
    restored_days: float = 7.0
    # Hours after an asset is ready before its original in staging is deleted.
    staging_ttl_hours: float = 72.0
    # Days after which S3 aborts incomplete multipart uploads (bucket lifecycle rule).
    abort_multipart_days: int = 2
    # Monthly price per GB stored, by tier (defaults: S3 Standard, Standard-IA, Glacier Flexible).
    price_hot_gb_month: float = 0.023
    price_warm_gb_month: float = 0.0125
    price_cold_gb_month: float = 0.0036
    # Seconds between two lifecycle runs of the beat job.
    interval_seconds: float = 3600.0

    def price(self, tier: Tier) -> float:
        return {
            Tier.HOT: self.price_hot_gb_month,
            Tier.WARM: self.price_warm_gb_month,
            Tier.COLD: self.price_cold_gb_month,
        }[tier]
