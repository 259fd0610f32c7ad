"""The retry schedule: exponential with jitter, capped, and going on for the whole window (24 h)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webhooks.backoff import RetryPolicy

POLICY = RetryPolicy(first_delay=5.0, max_delay=3600.0, window=24 * 3600.0)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("failures", "low", "high"),
    [
        (1, 2.5, 5.0),
        (2, 5.0, 10.0),
        (3, 10.0, 20.0),
        (4, 20.0, 40.0),
        (10, 1280.0, 2560.0),
        (11, 1800.0, 3600.0),  # capped from here on
        (12, 1800.0, 3600.0),
        (500, 1800.0, 3600.0),
    ],
)
def test_delay_bounds(failures: int, low: float, high: float) -> None:
    assert POLICY.delay(failures, lambda: 0.0) == low
    assert POLICY.delay(failures, lambda: 0.999999) == pytest.approx(high, rel=1e-5)
    assert low <= POLICY.delay(failures, lambda: 0.5) <= high


@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.999999])
def test_retries_for_at_least_the_window_then_gives_up(jitter: float) -> None:
    """Injected clock: fail every attempt, follow the schedule, see when it ends."""
    now, failures, attempts_at = T0, 0, [T0]
    while True:
        failures += 1
        next_at = POLICY.next_attempt(T0, failures, now, lambda: jitter)
        if next_at is None:
            break
        assert next_at > now
        now = next_at
        attempts_at.append(now)
        assert failures < 1000
    # The last attempt was made once the event was a day old; none was skipped earlier.
    assert attempts_at[-1] - T0 >= timedelta(hours=24)
    assert attempts_at[-2] - T0 < timedelta(hours=24)
    gaps = [b - a for a, b in zip(attempts_at, attempts_at[1:], strict=False)]
    assert max(gaps) <= timedelta(hours=1)
    assert 20 <= len(attempts_at) <= 60


def test_gives_up_at_once_past_the_window() -> None:
    assert POLICY.next_attempt(T0, 3, T0 + timedelta(hours=24), lambda: 0.5) is None
    assert POLICY.next_attempt(T0, 3, T0 + timedelta(hours=23, minutes=59), lambda: 0.5) is not None
