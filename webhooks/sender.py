"""The HTTP side of a delivery: one POST to the checked address, short timeouts, no redirects."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from egress.errors import TargetRefused
from egress.targets import Resolver, pinned_request, resolve_target, system_resolver

MAX_ERROR_LENGTH = 500


@dataclass(frozen=True)
class Outcome:
    status_code: int | None  # None: no HTTP answer (refused, unreachable, timed out)
    error: str | None  # None on success
    duration_ms: int = 0
    refused: bool = False  # the target is not allowed: retrying cannot help

    @property
    def ok(self) -> bool:
        return self.error is None


class HttpSender:
    """Sends a signed body to a URL; the SSRF check runs again here, on this resolution."""

    def __init__(
        self,
        *,
        timeout: float,
        allow_private: bool,
        resolver: Resolver = system_resolver,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        # trust_env=False: a proxy from the environment would connect to the name, not the checked address.
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False, transport=transport
        )

    def send(self, url: str, headers: dict[str, str], body: str) -> Outcome:
        started = time.monotonic()
        try:
            target = resolve_target(url, allow_private=self.allow_private, resolver=self.resolver)
        except TargetRefused as exc:
            return Outcome(None, f"refused: {exc}"[:MAX_ERROR_LENGTH], refused=True)
        try:
            request = pinned_request(self.client, "POST", target, headers, body.encode())
        except (httpx.InvalidURL, ValueError) as exc:
            return Outcome(None, f"refused: not a valid URL: {exc}"[:MAX_ERROR_LENGTH], refused=True)
        try:
            # The answer's body is never read: a receiver cannot make us download anything.
            response = self.client.send(request, stream=True)
            response.close()
        except httpx.HTTPError as exc:
            return Outcome(None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH], _ms(started))
        if 200 <= response.status_code < 300:
            return Outcome(response.status_code, None, _ms(started))
        return Outcome(response.status_code, f"HTTP {response.status_code}", _ms(started))

    def close(self) -> None:
        self.client.close()


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
