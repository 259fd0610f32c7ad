"""Circuit breaker towards the upstream. Pure: the caller passes the clock.

closed --(N consecutive failures)--> open --(cool-down elapsed)--> half-open
half-open lets exactly one probe through: success closes, failure re-opens for another cool-down.
While open, fetches fail at once, so an origin outage costs the origin at most one request per
cool-down per node instead of a retry storm, and clients get a 502 immediately instead of a hang.
"""

from __future__ import annotations

import enum


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, failure_threshold: int = 5, cooldown: float = 2.0) -> None:
        self.failure_threshold = max(1, failure_threshold)
        self.cooldown = cooldown
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.probing = False

    def allow(self, now: float) -> bool:
        """Whether a request may go upstream now (claims the probe slot when half-open)."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and now - self.opened_at >= self.cooldown:
            self.state = BreakerState.HALF_OPEN
            self.probing = False
        if self.state is BreakerState.HALF_OPEN and not self.probing:
            self.probing = True
            return True
        return False

    def retry_after(self, now: float) -> float:
        return max(0.0, self.cooldown - (now - self.opened_at))

    def success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.probing = False

    def failure(self, now: float) -> None:
        self.failures += 1
        self.probing = False
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.failure_threshold:
            self.state = BreakerState.OPEN
            self.opened_at = now
