"""Conditional requests (RFC 9110 13): evaluate preconditions against an object's validators. Pure.

Shared by origin, shield and edge so all three answer the same cases the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime


def quote_etag(etag: str) -> str:
    return etag if etag.startswith(('"', 'W/"')) else f'"{etag}"'


def http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


def parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def _strong_match(header: str, etag: str) -> bool:
    return any(t == "*" or (not t.startswith("W/") and t == etag and not etag.startswith("W/")) for t in _tags(header))


def _weak_match(header: str, etag: str) -> bool:
    return any(t == "*" or _opaque(t) == _opaque(etag) for t in _tags(header))


def _not_after(candidate: datetime | None, limit: datetime | None) -> bool:
    # HTTP dates have one-second resolution: compare whole seconds.
    return candidate is not None and limit is not None and int(candidate.timestamp()) <= int(limit.timestamp())


def evaluate_preconditions(
    headers: Mapping[str, str], etag: str | None, last_modified: datetime | None, method: str = "GET"
) -> int | None:
    """304 or 412 when a precondition decides the response, None to proceed (RFC 9110 13.2.2 order)."""
    get_or_head = method in ("GET", "HEAD")
    if_match = headers.get("if-match")
    if if_match is not None:
        if etag is None or not _strong_match(if_match, etag):
            return 412
    else:
        since = parse_http_date(headers.get("if-unmodified-since"))
        if since is not None and last_modified is not None and not _not_after(last_modified, since):
            return 412
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if etag is not None and _weak_match(if_none_match, etag):
            return 304 if get_or_head else 412
    elif get_or_head:
        since = parse_http_date(headers.get("if-modified-since"))
        if since is not None and _not_after(last_modified, since):
            return 304
    return None


def range_applies(headers: Mapping[str, str], etag: str | None, last_modified: datetime | None) -> bool:
    """Whether Range should be honoured given If-Range (RFC 9110 13.1.5): strong match or exact date."""
    if_range = headers.get("if-range")
    if if_range is None:
        return True
    if_range = if_range.strip()
    if if_range.startswith(('"', 'W/"')):
        return etag is not None and not if_range.startswith("W/") and if_range == etag and not etag.startswith("W/")
    when = parse_http_date(if_range)
    return when is not None and last_modified is not None and int(when.timestamp()) == int(last_modified.timestamp())
