"""Egress errors.

EgressError
    TargetRefused     the URL may not be called (scheme, credentials, private address, no address)
"""

from __future__ import annotations


class EgressError(Exception):
    """Base of this package's errors."""


class TargetRefused(EgressError):
    """A URL that must not be called; the message says why (shown to the API caller)."""
