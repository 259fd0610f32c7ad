"""The HTTP side of a purge: POST /_purge to one cache node (cdn_edge's purge API) with its token."""

from __future__ import annotations

import httpx

from edgepurge.errors import PurgeFailed

MAX_ERROR_LENGTH = 300


class HttpPurger:
    """Purges key prefixes on cache nodes. The nodes are the operator's own (settings), not user URLs."""

    def __init__(self, *, token: str, timeout: float, transport: httpx.BaseTransport | None = None) -> None:
        self.token = token
        # trust_env=False: the nodes are reached directly, never through a proxy from the environment.
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False, transport=transport
        )

    def purge(self, base_url: str, prefix: str) -> int:
        """Remove every object under `prefix` from the node; how many it removed. PurgeFailed otherwise."""
        try:
            response = self.client.post(
                f"{base_url.rstrip('/')}/_purge",
                json={"prefixes": [prefix]},
                headers={"authorization": f"Bearer {self.token}"},
            )
        except httpx.HTTPError as exc:
            raise PurgeFailed(f"{base_url}: {type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]) from None
        if response.status_code != 200:
            raise PurgeFailed(f"{base_url}: HTTP {response.status_code} {response.text[:100]}"[:MAX_ERROR_LENGTH])
        try:
            return int(response.json()["purged"])
        except (ValueError, KeyError, TypeError):
            raise PurgeFailed(f"{base_url}: not a purge answer: {response.text[:100]!r}") from None

    def close(self) -> None:
        self.client.close()
