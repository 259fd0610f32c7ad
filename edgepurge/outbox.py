"""Purging a deleted asset from every cache node: recorded with the deletion, retried until confirmed.

`record` joins the transaction that marks the asset deleted. `run_due` (the workers' beat, and the
API right after the deletion commits, for that one row) claims due rows with a conditional UPDATE
that moves next_attempt_at past now by a lease, so two processes never purge one row at once and a
process that dies mid-purge leaves the row due again when the lease ends. Nodes are purged in the
configured order; the first that does not confirm, and every node after it (an edge may have
refilled from a shield not yet purged), stay for the next attempt, with exponential backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from catalog.session import Catalog, rows_updated
from edgepurge.errors import PurgeFailed
from edgepurge.models import EdgePurge
from webhooks.backoff import RetryPolicy

log = logging.getLogger(__name__)


class Purger(Protocol):
    def purge(self, base_url: str, prefix: str) -> int:
        """Remove every object under `prefix` from the node at `base_url`; PurgeFailed when not confirmed."""
        ...


@dataclass
class PurgeReport:
    done: list[str] = field(default_factory=list)  # asset ids purged from every node
    retrying: list[str] = field(default_factory=list)


def record(session: Session, asset_id: str, targets: Sequence[str], now: datetime) -> str | None:
    """Queue the purge of `asset_id` on `targets` in the caller's transaction; its row id (None: no nodes)."""
    if not targets:
        return None
    row = EdgePurge(
        asset_id=asset_id,
        prefix=f"{asset_id}/",
        remaining=list(targets),
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row.id


def purge_in_order(purger: Purger, targets: Sequence[str], prefix: str) -> tuple[list[str], str | None]:
    """Purge `prefix` on every target in order: (the targets still to purge, the first error or None)."""
    first_failure: int | None = None
    error: str | None = None
    for i, target in enumerate(targets):
        try:
            purger.purge(target, prefix)
        except PurgeFailed as exc:
            if first_failure is None:
                first_failure, error = i, str(exc)
    return ([] if first_failure is None else list(targets[first_failure:])), error


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _claim(catalog: Catalog, now: datetime, lease_seconds: float, limit: int, only: str | None) -> list[EdgePurge]:
    claimed: list[EdgePurge] = []
    with catalog.session() as session:
        query = select(EdgePurge).where(EdgePurge.next_attempt_at <= now).order_by(EdgePurge.next_attempt_at)
        if only is not None:
            query = query.where(EdgePurge.id == only)
        for row in session.scalars(query.limit(limit)).all():
            took = rows_updated(
                session,
                update(EdgePurge)
                .where(EdgePurge.id == row.id, EdgePurge.next_attempt_at == row.next_attempt_at)
                .values(next_attempt_at=now + timedelta(seconds=lease_seconds)),
            )
            if took:
                claimed.append(row)
    return claimed


def run_due(
    catalog: Catalog,
    purger: Purger,
    *,
    policy: RetryPolicy,
    clock: Callable[[], datetime],
    uniform: Callable[[], float],
    lease_seconds: float,
    limit: int = 50,
    only: str | None = None,
) -> PurgeReport:
    """Attempt the due purges (or only the row `only`): rows fully confirmed are removed, the rest
    wait for their next attempt."""
    report = PurgeReport()
    for row in _claim(catalog, clock(), lease_seconds, limit, only):
        remaining, error = purge_in_order(purger, row.remaining, row.prefix)
        with catalog.session() as session:
            if not remaining:
                session.execute(delete(EdgePurge).where(EdgePurge.id == row.id))
                report.done.append(row.asset_id)
                continue
            attempts = row.attempts + 1
            log.warning("purge of %s not confirmed (attempt %d): %s", row.prefix, attempts, error)
            session.execute(
                update(EdgePurge)
                .where(EdgePurge.id == row.id)
                .values(
                    remaining=remaining,
                    attempts=attempts,
                    last_error=error,
                    next_attempt_at=clock() + timedelta(seconds=policy.delay(attempts, uniform)),
                )
            )
            report.retrying.append(row.asset_id)
    return report


def pending(catalog: Catalog) -> list[EdgePurge]:
    """Purges not yet confirmed by every node, oldest first."""
    with catalog.session() as session:
        rows = session.scalars(select(EdgePurge).order_by(EdgePurge.created_at)).all()
        for row in rows:
            row.created_at, row.next_attempt_at = _aware(row.created_at), _aware(row.next_attempt_at)
        return list(rows)
