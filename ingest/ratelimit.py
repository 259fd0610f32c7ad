"""Rate limits of the ingest API: API calls per caller, uploads created and body bytes per key.

An ASGI middleware inside TusMiddleware (so X-HTTP-Method-Override is already applied and the 429
carries Tus-Resumable) and inside CORS (so a browser can read it). Every limited answer carries
RateLimit-Policy / RateLimit; a refusal is 429 with Retry-After, before any work or body read.

Who the caller is comes from one hook, `Identify`: a valid key (by its hash: keys never reach the
rate-limit storage) or else the client address.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.auth import KeyRing, bearer_key
from ingest.errors import TusError
from ingest.protocol import OFFSET_CONTENT_TYPE
from traffic.clients import TrustedProxies
from traffic.ratelimit import Decision, Limiter, Policy, client_of, headers, send_refusal
from traffic.settings import RateLimitSettings

# (identity, class): the budget key and which `api` limit applies ("anonymous", "key", ...).
Identify = Callable[[Scope], Awaitable[tuple[str, str]]]
ANONYMOUS = "anonymous"
EXEMPT = frozenset(("/healthz", "/metrics"))


def key_or_address(keys: KeyRing, proxies: TrustedProxies) -> Identify:
    """The default Identify: a valid key is the caller (by its hash: one budget per key, whatever
    replica answers), anything else is its client address ("anonymous": invalid keys do not buy a
    fresh budget each). Configured tokens resolve in memory; catalog keys cost one indexed lookup
    in a worker thread, kept in the request's state for the route's own authentication."""

    async def identify(scope: Scope) -> tuple[str, str]:
        authorization = Headers(scope=scope).get("authorization")
        if authorization:
            try:
                key = bearer_key(authorization)
            except TusError:
                key = ""
            if key and await keys.resolve(scope, key) is not None:
                # The key's hash, not its name: configured tokens have names only within one deployment.
                return "key:" + hashlib.sha256(key.encode()).hexdigest()[:32], "key"
        return "ip:" + client_of(scope, proxies), ANONYMOUS

    return identify


def storage_url(settings: RateLimitSettings, lock_backend: str, redis_url: str) -> str:
    if settings.storage_url:
        return settings.storage_url
    return redis_url if lock_backend == "redis" else "memory://"


class IngestRateLimits:
    def __init__(
        self, app: ASGIApp, *, limiter: Limiter, settings: RateLimitSettings, identify: Identify, prefix: str
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.identify = identify
        self.prefix = prefix
        self.api = settings.api_policies()
        self.create = settings.create_policy()
        self.bytes = settings.bytes_policy()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        decisions, identity, unmetered = await self._check(scope)
        if any(not d.allowed for d in decisions):
            await send_refusal(send, decisions)
            return
        fields = headers(decisions)

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *fields]}
            await send(message)

        if not unmetered or self.bytes is None:
            await self.app(scope, receive, send_with_limits if fields else send)
            return
        # A body without Content-Length (chunked) is charged as it is read: it cannot be refused
        # up front, but what it sent is spent, and the next request waits for the window.
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        try:
            await self.app(scope, counting_receive, send_with_limits)
        finally:
            if received > 1:
                await self.limiter.hit(self.bytes, identity, received - 1)

    async def _check(self, scope: Scope) -> tuple[Sequence[Decision], str, bool]:
        """The decisions of the policies this request spends, its identity, and whether its body is
        to be charged as it arrives (no Content-Length)."""
        identity, caller = await self.identify(scope)
        decisions: list[Decision] = []

        async def spend(policy: Policy | None, cost: int = 1) -> bool:
            if policy is None:
                return True
            decision = await self.limiter.hit(policy, identity, cost)
            decisions.append(decision)
            return decision.allowed

        if not await spend(self.api.get(caller)) or caller == ANONYMOUS:
            return decisions, identity, False  # anonymous uploads are refused (401) anyway
        method, path = scope["method"], scope["path"]
        if not path.startswith(self.prefix):
            return decisions, identity, False
        if method == "POST" and path.rstrip("/") == self.prefix and not await spend(self.create):
            return decisions, identity, False
        request_headers = Headers(scope=scope)
        if method in ("POST", "PATCH") and request_headers.get("content-type", "").startswith(OFFSET_CONTENT_TYPE):
            declared = request_headers.get("content-length", "")
            # Without a length: one byte now (a spent budget refuses it), the rest as it arrives.
            await spend(self.bytes, int(declared) if declared.isdigit() else 1)
            return decisions, identity, not declared.isdigit()
        return decisions, identity, False
