"""Webhook errors.

WebhookError
    TargetRefused     the URL may not be called (scheme, credentials, private address, no address)
"""

from __future__ import annotations


class WebhookError(Exception):
    """Base of this package's errors."""


class TargetRefused(WebhookError):
    """A webhook URL that must not be called; the message says why (shown to the API caller)."""
