"""The player's QoE beacon (POST /qoe at the edge): what CMCD cannot carry, the player's own
startup time and fatal errors. Pure: bytes in, a validated Beacon out, or BeaconInvalid.

A beacon is JSON of at most MAX_BEACON_BYTES, sent with navigator.sendBeacon (text/plain, so no
CORS preflight): {"sid": the CMCD session id, "event": "start" | "error", "startup_ms": for start,
"error": a short reason for error (kept out of every metric label)}. Unknown fields are refused, so
a client bug shows up as 400s rather than silently missing data.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cdn_edge.cmcd import MAX_SID
from cdn_edge.errors import BeaconInvalid

MAX_BEACON_BYTES = 2048
MAX_STARTUP_MS = 600_000  # ten minutes: longer is a page left open, not a startup


class Beacon(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sid: str = Field(min_length=1, max_length=MAX_SID)
    event: Literal["start", "error"]
    startup_ms: int | None = Field(default=None, ge=0, le=MAX_STARTUP_MS)
    error: str | None = Field(default=None, max_length=200)


def parse_beacon(body: bytes) -> Beacon:
    try:
        return Beacon.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise BeaconInvalid(f"not a QoE beacon: {where}: {first['msg']}") from None
