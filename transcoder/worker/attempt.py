"""One attempt at a job: its number (the fencing token), where its objects go, and the fence.

An attempt claims the job by incrementing `job.attempts`; that number is its token. Every catalog
write of the attempt is conditional on the job still running under it (`sweeper.current_attempt`),
so an attempt that was superseded (its heartbeat went stale and the sweeper requeued the job, say)
can neither vouch for nor publish over the attempt that replaced it.

Objects are fenced by place: attempt n writes only under `<asset>/a<n>/` (segments, playlists,
previews, the early master of progressive publishing alike), so two attempts never write, overwrite
or delete each other's objects, and an object once published is never rewritten with other bytes
(which edges would keep serving as `immutable`). Publishing is the one fenced catalog update that
points the asset at its attempt's master and DASH manifest; afterwards the winner removes every
other attempt's leftovers. A losing attempt removes its own prefix when it notices.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import select

from catalog.models import Job
from catalog.session import Catalog
from storage.errors import StorageError
from storage.objects import ObjectStore
from transcoder.errors import Superseded
from transcoder.worker.sweeper import current_attempt

log = logging.getLogger(__name__)


def attempt_prefix(asset_id: str, number: int) -> str:
    """Where attempt `number` of the asset's job writes every object."""
    return f"{asset_id}/a{number}/"


@dataclass(frozen=True)
class Attempt:
    job_id: str
    asset_id: str
    number: int  # job.attempts after the claim: the fencing token
    # Set by the attempt's Heartbeat once a beat matches no row (superseded or past the deadline).
    lost: threading.Event = field(default_factory=threading.Event, compare=False)

    @property
    def prefix(self) -> str:
        return attempt_prefix(self.asset_id, self.number)

    def holds(self, catalog: Catalog) -> bool:
        """True while the job is still running under this attempt (one catalog read)."""
        with catalog.session() as s:
            return s.scalar(select(Job.id).where(current_attempt(self.job_id, self.number))) is not None

    def check(self, catalog: Catalog) -> None:
        """Raise Superseded unless this attempt still holds the job."""
        if self.lost.is_set() or not self.holds(catalog):
            raise Superseded(f"attempt {self.number} of job {self.job_id} no longer holds it")


def remove_prefix(store: ObjectStore, bucket: str, prefix: str, *, keep: str | None = None) -> int:
    """Delete every object under `prefix` except those under `keep`; storage errors are logged
    (leftovers are unreachable: nothing names them). Returns how many were deleted."""
    deleted = 0
    try:
        keys = [o.key for o in store.list(bucket, prefix)]
    except StorageError as exc:
        log.warning("could not list %s for removal: %s", prefix, exc)
        return 0
    for key in keys:
        if keep is not None and key.startswith(keep):
            continue
        try:
            store.delete(bucket, key)
            deleted += 1
        except StorageError as exc:
            log.warning("could not remove %s: %s", key, exc)
    return deleted
