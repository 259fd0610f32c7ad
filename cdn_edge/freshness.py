"""How long a stored response stays usable (RFC 9111 4.2, RFC 5861). Pure: values and a clock value in.

A stored response is, at time `now`:
  fresh                 age < max-age                          -> serve (hit)
  stale, revalidatable  age < max-age + stale-while-revalidate -> serve and refresh once in background
  stale, on error only  age < max-age + stale-if-error         -> serve only if the upstream fails
  expired                                                       -> must be fetched again
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from httpsemantics.conditional import parse_http_date


class Usability(enum.Enum):
    FRESH = "fresh"
    STALE_REVALIDATE = "stale-while-revalidate"
    STALE_IF_ERROR = "stale-if-error"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Freshness:
    max_age: float
    stale_while_revalidate: float = 0.0
    stale_if_error: float = 0.0
    storable: bool = True


def parse_cache_control(value: str | None) -> dict[str, str | None]:
    directives: dict[str, str | None] = {}
    for part in (value or "").split(","):
        name, sep, arg = part.strip().partition("=")
        if name:
            directives[name.strip().lower()] = arg.strip().strip('"') if sep else None
    return directives


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def freshness_of(
    status: int, headers: Mapping[str, str], *, negative_ttl: float, unavailable_ttl: float = 0.0
) -> Freshness:
    """Lifetimes of a response from its headers. 404s are cached for at most `negative_ttl`; a 503 with
    Retry-After (a cold object being restored) for at most `unavailable_ttl` and its Retry-After, so a
    crowd of players asking for it costs the upstream one request per interval."""
    if status == 503:
        # Whatever Cache-Control says about the error body, holding it for Retry-After is the point.
        if "retry-after" not in headers:
            return Freshness(0, storable=False)
        ttl = min(_seconds(headers.get("retry-after")) or 0.0, unavailable_ttl)
        return Freshness(ttl, storable=ttl > 0)
    cc = parse_cache_control(headers.get("cache-control"))
    if "no-store" in cc or "private" in cc:
        return Freshness(0, storable=False)
    max_age = _seconds(cc.get("s-maxage")) if "s-maxage" in cc else _seconds(cc.get("max-age"))
    if "no-cache" in cc:
        max_age = 0.0
    if max_age is None:
        expires, date = parse_http_date(headers.get("expires")), parse_http_date(headers.get("date"))
        if expires is not None and date is not None:
            max_age = max(0.0, (expires - date).total_seconds())
        else:
            # RFC 9111 4.2.2 heuristic: a tenth of the time since last modification, capped at a day.
            modified = parse_http_date(headers.get("last-modified"))
            max_age = min(86_400.0, max(0.0, (date - modified).total_seconds() / 10)) if modified and date else 0.0
    if status == 404:
        return Freshness(min(max_age, negative_ttl), storable=negative_ttl > 0)
    if status != 200:
        return Freshness(0, storable=False)
    return Freshness(
        max_age,
        _seconds(cc.get("stale-while-revalidate")) or 0.0,
        _seconds(cc.get("stale-if-error")) or 0.0,
    )


def usability(freshness: Freshness, age: float) -> Usability:
    if age < freshness.max_age:
        return Usability.FRESH
    if age < freshness.max_age + freshness.stale_while_revalidate:
        return Usability.STALE_REVALIDATE
    if age < freshness.max_age + freshness.stale_if_error:
        return Usability.STALE_IF_ERROR
    return Usability.EXPIRED


def initial_age(headers: Mapping[str, str]) -> float:
    """The Age the upstream reported (time already spent in caches above us)."""
    return _seconds(headers.get("age")) or 0.0
