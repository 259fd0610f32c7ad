"""Edge purge errors.

EdgePurgeError
    PurgeFailed       one node did not confirm a purge (unreachable, timed out, or not a 2xx answer)
"""

from __future__ import annotations


class EdgePurgeError(Exception):
    """Base of this package's errors."""


class PurgeFailed(EdgePurgeError):
    """A node did not confirm the purge; retried later from the outbox row."""
