"""Errors of requests refused at the door, each with its HTTP status and a stable code.

TrafficError            base class: `status`, `code`, a short readable message
 +-- BadPath            a request path no object can have: bad encoding, NUL or control characters,
 |   |                  `.`/`..` segments, backslashes, empty segments (400)
 |   +-- PathTooLong    over MAX_PATH bytes, or one segment over MAX_SEGMENT bytes (414)
 +-- RateLimited        over a rate limit (429, with Retry-After and the RateLimit headers)
"""

from __future__ import annotations


class TrafficError(Exception):
    status = 400
    code = "bad_request"


class BadPath(TrafficError):
    status = 400
    code = "bad_path"


class PathTooLong(BadPath):
    status = 414
    code = "path_too_long"
