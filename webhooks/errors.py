"""Webhook errors.

WebhookError      base of this package's errors (a refused URL is egress.errors.TargetRefused)
"""

from __future__ import annotations


class WebhookError(Exception):
    """Base of this package's errors."""
