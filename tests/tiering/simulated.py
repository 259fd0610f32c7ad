"""What the tiering tests share: a clock they set, and lifecycle settings with short restores."""

from __future__ import annotations

from tiering.settings import TieringSettings

SETTINGS = TieringSettings(enabled=True, warm_after_days=30, cold_after_days=90, restore_seconds=600, restored_days=2)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now
