"""Rate-limit policies, their header fields (draft-ietf-httpapi-ratelimit-headers) and the per-client
budget of the edge's hit path, on an injected clock."""

from __future__ import annotations

import socket

import pytest

from traffic.ratelimit import CONTENT_BYTES, ClientBudget, Decision, Limiter, Policy, headers
from traffic.settings import RateLimitSettings


def test_policy_fields() -> None:
    api = Policy.parse("api-key", "600/minute")
    upload = Policy.parse("upload-bytes", "1073741824 per hour", CONTENT_BYTES)
    assert (api.amount, api.window) == (600, 60)
    assert upload.describe() == '"upload-bytes";q=1073741824;w=3600;qu="content-bytes"'
    allowed = Decision(api, True, 599, 59.2)
    refused = Decision(upload, False, 0, 1800.4)
    assert headers([allowed]) == [
        (b"ratelimit-policy", b'"api-key";q=600;w=60'),
        (b"ratelimit", b'"api-key";r=599;t=60'),
    ]
    assert dict(headers([allowed, refused])) == {
        b"ratelimit-policy": b'"api-key";q=600;w=60, "upload-bytes";q=1073741824;w=3600;qu="content-bytes"',
        b"ratelimit": b'"api-key";r=599;t=60, "upload-bytes";r=0;t=1801',
        b"retry-after": b"1801",
    }
    assert headers([]) == []


@pytest.mark.parametrize("limit", ["lots", "10/fortnight", "-1/minute"])
def test_bad_limits_are_named(limit: str) -> None:
    with pytest.raises(ValueError, match="upload_create|not a limit"):
        RateLimitSettings(upload_create=limit)


def test_client_budget_windows() -> None:
    now = [1000.0]
    budget = ClientBudget(Policy.parse("edge", "3/minute"), clock=lambda: now[0])
    assert [budget.admit("a") for _ in range(5)] == [True, True, True, False, False]
    assert budget.admit("b")  # a budget per client
    now[0] += 59.5
    refusal = budget.refusal("a")
    assert (refusal.remaining, refusal.reset_after) == (0, 0.5)
    assert headers([refusal])[-1] == (b"retry-after", b"1")
    assert not budget.admit("a")
    now[0] += 0.5  # the window is over: everyone starts again
    assert [budget.admit("a") for _ in range(4)] == [True, True, True, False]
    assert budget.counts == {"a": 4}


@pytest.mark.anyio
async def test_limiter_in_memory() -> None:
    limiter = Limiter("memory://")
    policy = Policy.parse("upload-create", "2/hour")
    decisions = [await limiter.hit(policy, "key:1") for _ in range(3)]
    assert [(d.allowed, d.remaining) for d in decisions] == [(True, 1), (True, 0), (False, 0)]
    assert 3590 < decisions[-1].reset_after <= 3600
    # A request costing more than a whole window spends the window, rather than never passing.
    big = await limiter.hit(Policy.parse("upload-bytes", "100/hour", CONTENT_BYTES), "key:1", cost=10_000)
    assert (big.allowed, big.remaining) == (True, 0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_unreachable_storage_lets_requests_through(caplog: pytest.LogCaptureFixture) -> None:
    """An outage of the limits' Redis must not take the API down: requests pass, and it is logged."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    limiter = Limiter(f"redis://127.0.0.1:{port}/0")
    decision = await limiter.hit(Policy.parse("api-key", "1/hour"), "key:1")
    assert decision.allowed
    assert "rate limit storage unavailable" in caplog.text
