"""Parse ffmpeg's `-progress` key=value stream into percent, speed and ETA. Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    media_seconds: float  # output time reached
    fraction: float  # 0..1 of the source duration
    speed: float | None  # media seconds per wall second (x realtime)
    eta_seconds: float | None
    done: bool


class ProgressParser:
    """Feed lines; every complete block (ending with progress=continue|end) yields a Progress."""

    def __init__(self, duration: float) -> None:
        self.duration = max(duration, 1e-6)
        self._block: dict[str, str] = {}

    def feed(self, line: str) -> Progress | None:
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        self._block[key] = value.strip()
        if key != "progress":
            return None
        block, self._block = self._block, {}
        return self._to_progress(block)

    def _to_progress(self, block: dict[str, str]) -> Progress:
        media = 0.0
        raw = block.get("out_time_us") or block.get("out_time_ms")  # both are microseconds in ffmpeg
        if raw and raw not in ("N/A", ""):
            try:
                media = max(0.0, int(raw) / 1_000_000)
            except ValueError:
                media = 0.0
        speed = None
        raw_speed = block.get("speed", "").rstrip("x").strip()
        if raw_speed and raw_speed != "N/A":
            try:
                speed = float(raw_speed) or None
            except ValueError:
                speed = None
        done = block.get("progress") == "end"
        fraction = 1.0 if done else min(media / self.duration, 0.999)
        eta = 0.0 if done else ((self.duration - media) / speed if speed else None)
        return Progress(media, fraction, speed, eta if eta is None else max(0.0, eta), done)
