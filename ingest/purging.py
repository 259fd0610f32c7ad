"""The asset API's side of edge purges: recorded in the transaction of the change (a deletion, a
switch to private), then tried at once; what a node did not confirm the workers retry (edgepurge)."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from catalog.models import utcnow
from catalog.session import Catalog
from edgepurge import outbox
from edgepurge.tasks import run_purges
from ingest.settings import IngestSettings

log = logging.getLogger(__name__)


def record_purge(session: Session, settings: IngestSettings, asset_id: str) -> str | None:
    """Queue the purge of every object of `asset_id` on the configured nodes (caller's transaction)."""
    return outbox.record(session, asset_id, settings.purge.targets, utcnow())


def purge_now(settings: IngestSettings, catalog: Catalog, purge_id: str | None) -> None:
    """Try the recorded purge once, now (blocking: call from a worker thread, after the commit)."""
    if purge_id is None:
        return
    report = run_purges(catalog, settings.purge, only=purge_id)
    if report.retrying:
        log.warning("edge purge %s not confirmed by every node: the workers retry it", purge_id)
