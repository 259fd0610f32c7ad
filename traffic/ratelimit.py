"""Rate limits on top of the `limits` library: named policies, one budget per (policy, identity) in
Redis (shared by every replica, atomic: limits' INCR+EXPIRE Lua script) or in this process's
memory, and the answers as HTTP header fields.

Headers follow draft-ietf-httpapi-ratelimit-headers (-10): every limited response says which
policies apply (`RateLimit-Policy: "api";q=600;w=60`) and what is left of each
(`RateLimit: "api";r=12;t=37`); a refusal is 429 with `Retry-After` (seconds until the budget of
the exhausted policy resets) as well.

Windows are fixed (limits' FixedWindowRateLimiter): a budget's window starts at its first hit, so a
burst lands in one window, and the counter is one integer per identity, in Redis or in memory.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import limits
import limits.aio.strategies
import limits.strategies
from limits.errors import StorageError
from starlette.types import ASGIApp, Receive, Scope, Send

from traffic.clients import TrustedProxies

log = logging.getLogger(__name__)

REQUESTS = "request"
CONTENT_BYTES = "content-bytes"


@dataclass(frozen=True)
class Policy:
    """`amount` units (requests, or body bytes) per `window` seconds, per identity."""

    name: str
    item: limits.RateLimitItem
    unit: str = REQUESTS

    @classmethod
    def parse(cls, name: str, limit: str, unit: str = REQUESTS) -> Policy:
        """`limit` in limits' notation: "600/minute", "10 per hour", "1073741824/hour"."""
        try:
            item = limits.parse(limit)
        except ValueError:
            raise ValueError(f"rate limit {name}: not a limit like '600/minute': {limit!r}") from None
        return cls(name, item, unit)

    @property
    def amount(self) -> int:
        return self.item.amount

    @property
    def window(self) -> int:
        return self.item.get_expiry()

    def describe(self) -> str:
        """This policy as a member of RateLimit-Policy."""
        unit = f';qu="{self.unit}"' if self.unit != REQUESTS else ""
        return f'"{self.name}";q={self.amount};w={self.window}{unit}'


@dataclass(frozen=True)
class Decision:
    policy: Policy
    allowed: bool
    remaining: int
    reset_after: float  # seconds until the window resets

    def describe(self) -> str:
        """This decision as a member of RateLimit."""
        return f'"{self.policy.name}";r={self.remaining};t={math.ceil(self.reset_after)}'


def headers(decisions: Sequence[Decision]) -> list[tuple[bytes, bytes]]:
    """RateLimit-Policy and RateLimit for the policies a request was checked against, plus
    Retry-After when one of them refused it."""
    if not decisions:
        return []
    fields = [
        (b"ratelimit-policy", ", ".join(d.policy.describe() for d in decisions).encode()),
        (b"ratelimit", ", ".join(d.describe() for d in decisions).encode()),
    ]
    refused = [d for d in decisions if not d.allowed]
    if refused:
        wait = max(1, math.ceil(max(d.reset_after for d in refused)))
        fields.append((b"retry-after", str(wait).encode()))
    return fields


async def send_refusal(send: Send, decisions: Sequence[Decision], extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """A 429 whose body names the exhausted policy, with the headers of `decisions`."""
    refused = next(d for d in decisions if not d.allowed)
    body = json.dumps(
        {"error": "rate_limited", "detail": f"over the {refused.policy.name} rate limit, retry later"}
    ).encode()
    fields = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *headers(decisions),
        *extra,
    ]
    await send({"type": "http.response.start", "status": 429, "headers": fields})
    await send({"type": "http.response.body", "body": body})


class Limiter:
    """Async budgets for an event loop: Redis (`redis://...`, shared by every process using the same
    server) or memory (`memory://`, this process only).

    A storage that cannot be reached lets requests through (logged): an outage of the rate limit's
    Redis must not take uploads down with it."""

    def __init__(self, storage_url: str = "memory://") -> None:
        options: dict[str, str | bool] = {"wrap_exceptions": True}
        if storage_url.startswith(("redis://", "rediss://")):
            options["implementation"] = "redispy"  # redis-py is a dependency already; coredis is not
        self.storage = limits.storage.storage_from_string(f"async+{storage_url}", **options)
        self.strategy = limits.aio.strategies.FixedWindowRateLimiter(self.storage)

    async def hit(self, policy: Policy, identity: str, cost: int = 1) -> Decision:
        """Take `cost` units of `identity`'s budget under `policy` (at most the whole budget: one
        request bigger than a window's budget spends it all rather than never passing)."""
        cost = max(0, min(cost, policy.amount))
        try:
            allowed = cost == 0 or await self.strategy.hit(policy.item, policy.name, identity, cost=cost)
            stats = await self.strategy.get_window_stats(policy.item, policy.name, identity)
        except StorageError:
            log.warning("rate limit storage unavailable; %s not limited", policy.name, exc_info=True)
            return Decision(policy, True, policy.amount, float(policy.window))
        # reset_time is on limits' clock, time.time(), as are the windows themselves.
        return Decision(policy, allowed, stats.remaining, max(0.0, stats.reset_time - time.time()))


class ClientBudget:
    """Requests per client address for a hot path that cannot wait: synchronous, this process only.

    Not limits' MemoryStorage: measured on the edge's hit path it cost about 24 us per request (its
    expiry timer thread is restarted every 10 ms and sweeps every key), most of a hit's budget. Here
    one fixed window is shared by every client: a dict of counts, emptied when the window ends, so a
    check is a clock read and a dict update."""

    def __init__(self, policy: Policy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self.counts: dict[str, int] = {}
        self.window_end = -math.inf

    def admit(self, client: str) -> bool:
        """Spend one request of `client`'s budget; False when it is spent already."""
        now = self.clock()
        if now >= self.window_end:
            self.counts = {}
            self.window_end = now + self.policy.window
        count = self.counts.get(client, 0) + 1
        self.counts[client] = count
        return count <= self.policy.amount

    def refusal(self, client: str) -> Decision:
        remaining = max(0, self.policy.amount - self.counts.get(client, 0))
        return Decision(self.policy, False, remaining, max(0.0, self.window_end - self.clock()))


class ClientRateLimit:
    """ASGI middleware: `budget` per client address (the peer, or X-Forwarded-For from `proxies`);
    a client over it gets 429. Health and metrics are not counted."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        budget: ClientBudget,
        proxies: TrustedProxies,
        exempt: Collection[str] = (),
        extra_headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        self.app = app
        self.budget = budget
        self.proxies = proxies
        self.exempt = frozenset(exempt)
        self.extra_headers = extra_headers  # e.g. CORS, for a middleware outside the app's CORS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        client = client_of(scope, self.proxies)
        if not self.budget.admit(client):
            await send_refusal(send, [self.budget.refusal(client)], self.extra_headers)
            return
        await self.app(scope, receive, send)


def client_of(scope: Scope, proxies: TrustedProxies) -> str:
    """The client address of an ASGI scope, as a rate-limit identity ("unknown" when there is none)."""
    peer = scope["client"][0] if scope.get("client") else None
    forwarded = (
        [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"] if proxies.networks else []
    )
    return proxies.client_address(peer, forwarded) or "unknown"
