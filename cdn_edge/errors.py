"""Edge errors, with their HTTP status declared once in `STATUS` and rendered by one handler (app.py).

EdgeError                       base class
 +-- UpstreamError              the upstream could not give us the object (502)
 |    +-- UpstreamUnavailable   connection refused/reset, or a 5xx answer (502)
 |    +-- UpstreamTimeout       no answer within the configured time (504)
 |    +-- CircuitOpen           the breaker is open: not even tried (502, with Retry-After)
 +-- PurgeUnauthorized          missing or wrong purge token (401)
 +-- PurgeDisabled              no purge token configured on this node (404)
 +-- BeaconRefused              a QoE beacon (POST /qoe) not taken
      +-- BeaconInvalid         not a beacon: bad JSON, unknown fields, values out of range (400)
      +-- BeaconTooLarge        body over MAX_BEACON_BYTES (413)
      +-- BeaconLimited         over the client's beacon budget (429, with Retry-After)
      +-- BeaconDisabled        this node tracks no QoE (the shield) (404)
The node also raises the errors it shares with the origin: HTTP semantics (httpsemantics.errors:
ranges, 404) and playback tokens (playback.errors: 403); `STATUS` lists those tables too.
"""

from __future__ import annotations

from httpsemantics import errors as semantics
from httpsemantics.errors import HTTPSemanticsError, status_in
from playback import errors as playback


class EdgeError(Exception):
    code = "edge_error"


class UpstreamError(EdgeError):
    code = "upstream_error"
    retry_after: float | None = None


class UpstreamUnavailable(UpstreamError):
    code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    code = "upstream_timeout"


class CircuitOpen(UpstreamError):
    code = "circuit_open"

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"upstream circuit open, retry in {retry_after:.1f}s")
        self.retry_after = retry_after


class PurgeUnauthorized(EdgeError):
    code = "purge_unauthorized"


class PurgeDisabled(EdgeError):
    code = "purge_disabled"


class BeaconRefused(EdgeError):
    code = "beacon_refused"


class BeaconInvalid(BeaconRefused):
    code = "beacon_invalid"


class BeaconTooLarge(BeaconRefused):
    code = "beacon_too_large"


class BeaconLimited(BeaconRefused):
    code = "beacon_rate_limited"

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many beacons from this client, retry in {retry_after:.0f}s")
        self.retry_after = retry_after


class BeaconDisabled(BeaconRefused):
    code = "beacon_disabled"


STATUS: dict[type[Exception], int] = {
    BeaconInvalid: 400,
    BeaconTooLarge: 413,
    BeaconLimited: 429,
    BeaconDisabled: 404,
    UpstreamTimeout: 504,
    UpstreamError: 502,
    PurgeUnauthorized: 401,
    PurgeDisabled: 404,
    **semantics.STATUS,
    **playback.STATUS,
}


def status_for(exc: EdgeError | HTTPSemanticsError) -> int:
    return status_in(STATUS, exc)
