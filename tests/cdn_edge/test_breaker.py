from __future__ import annotations

from cdn_edge.breaker import BreakerState, CircuitBreaker


def test_breaker_cycle() -> None:
    b = CircuitBreaker(failure_threshold=3, cooldown=10)
    for t in range(3):
        assert b.allow(t)
        b.failure(t)
    assert b.state is BreakerState.OPEN
    assert not b.allow(5) and b.retry_after(5) == 7
    assert b.allow(12)  # the one probe
    assert not b.allow(12.5)
    b.failure(13)
    assert b.state is BreakerState.OPEN and not b.allow(20)
    assert b.allow(23)
    b.success()
    assert b.state is BreakerState.CLOSED and b.allow(23) and b.allow(23)


def test_success_resets_the_count() -> None:
    b = CircuitBreaker(failure_threshold=2, cooldown=1)
    b.failure(0)
    b.success()
    b.failure(1)
    assert b.state is BreakerState.CLOSED
