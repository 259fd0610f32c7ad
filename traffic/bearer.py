"""The bearer token an operator may put on /metrics (VODSTACK_<SERVICE>_METRICS_TOKEN).

One check for every service: ingest, origin, edge/shield (ASGI) and the transcoder worker's exporter
(WSGI). It takes the Authorization header's value, so it needs no framework.
"""

from __future__ import annotations

import secrets

# The answer's WWW-Authenticate when the token is missing or wrong (RFC 6750).
CHALLENGE = 'Bearer realm="metrics"'


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Whether an Authorization header value carries `token` as a bearer token (constant time).

    An empty `token` means /metrics is open: every request matches.
    """
    if not token:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), token.encode())
