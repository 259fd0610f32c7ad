"""The one way a node talks to its upstream: an httpx client (its transport injectable: ASGITransport
in tests, the network in production) behind a circuit breaker, with errors mapped to ours."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from cdn_edge.breaker import BreakerState, CircuitBreaker
from cdn_edge.errors import CircuitOpen, UpstreamTimeout, UpstreamUnavailable
from cdn_edge.settings import EdgeSettings
from httpsemantics.variants import upstream_target


def counts_as_failure(status: int, headers: httpx.Headers) -> bool:
    """5xx answers trip the breaker, except a 503 with Retry-After: that is the upstream working as
    designed (a cold object being restored), not failing."""
    return status >= 500 and not (status == 503 and "retry-after" in headers)


class Upstream:
    def __init__(
        self,
        settings: EdgeSettings,
        clock: Callable[[], float],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.clock = clock
        self.breaker = CircuitBreaker(settings.breaker_failure_threshold, settings.breaker_cooldown_seconds)
        timeout = httpx.Timeout(
            connect=settings.upstream_connect_timeout,
            read=settings.upstream_read_timeout,
            write=settings.upstream_read_timeout,
            pool=settings.upstream_read_timeout,
        )
        limits = httpx.Limits(
            max_connections=settings.upstream_max_connections,
            max_keepalive_connections=settings.upstream_max_connections,
        )
        self.client = httpx.AsyncClient(
            base_url=settings.upstream_url.rstrip("/"), transport=transport, timeout=timeout, limits=limits
        )

    @property
    def circuit_open(self) -> bool:
        return self.breaker.state is not BreakerState.CLOSED

    async def open(self, key: str, headers: dict[str, str]) -> httpx.Response:
        """A streaming GET of `key` (a cache key, with its query variant: httpsemantics.variants); the
        caller reads and closes it. Raises UpstreamError subclasses."""
        now = self.clock()
        if not self.breaker.allow(now):
            raise CircuitOpen(self.breaker.retry_after(now))
        request = self.client.build_request("GET", upstream_target(key), headers=headers)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            self.breaker.failure(self.clock())
            raise UpstreamTimeout(f"upstream timed out: {exc!r}") from exc
        except httpx.HTTPError as exc:
            self.breaker.failure(self.clock())
            raise UpstreamUnavailable(f"upstream unreachable: {exc!r}") from exc
        if counts_as_failure(response.status_code, response.headers):
            await response.aclose()
            self.breaker.failure(self.clock())
            raise UpstreamUnavailable(f"upstream answered {response.status_code}")
        self.breaker.success()
        return response

    def body_failed(self) -> None:
        """The body broke off after a good head: count it against the upstream."""
        self.breaker.failure(self.clock())

    async def aclose(self) -> None:
        await self.client.aclose()
