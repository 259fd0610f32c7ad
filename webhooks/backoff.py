"""When a failed delivery is tried again, and when it is given up (pure: the caller passes time and randomness).

Exponential backoff with "equal jitter" (half the step fixed, half random): receivers that came back
are not hit by every sender at once, and the schedule never collapses to zero as full jitter can.
A delivery is retried until `window` has passed since its event (24 h by default), so a receiver
down for a day still gets every event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: float = 5.0  # seconds after the first failure
    max_delay: float = 3600.0  # the step stops growing here
    window: float = 24 * 3600.0  # retried until the event is this old, then failed

    def step(self, failures: int) -> float:
        """Upper bound of the delay after the `failures`-th failure (1-based), before jitter."""
        exponent = min(max(failures, 1) - 1, 40)  # 2**40 * anything is past any cap
        return float(min(self.max_delay, self.first_delay * 2**exponent))

    def delay(self, failures: int, uniform: Callable[[], float]) -> float:
        """Seconds to wait after the `failures`-th failure; `uniform()` returns a float in [0, 1)."""
        step = self.step(failures)
        return step / 2 + step / 2 * uniform()

    def next_attempt(
        self, created_at: datetime, failures: int, now: datetime, uniform: Callable[[], float]
    ) -> datetime | None:
        """When to try again after a failure at `now`, or None: the window has passed, give up."""
        if (now - created_at).total_seconds() >= self.window:
            return None
        return now + timedelta(seconds=self.delay(failures, uniform))
