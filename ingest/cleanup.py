"""Periodic cleanup: expire uploads nobody finished and reclaim every byte they held.

Expired uploads lose their spool file, temp objects and multipart upload (UploadStore.discard); then the
store sweeps leftovers no catalog row explains (a creation that crashed half-way, a forgotten multipart
upload, an unverified checksum chunk).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from catalog.models import UploadState
from ingest.deps import Ingest
from ingest.errors import LockUnavailable
from ingest.posters import sweep_retired
from ingest.uploads import (
    end_upload,
    expired_uploads,
    get_upload,
    idle_uploads,
    mark_expired,
    open_upload_ids,
    unclaimed_partials,
)
from storage.errors import StorageError

log = logging.getLogger(__name__)
# What a pass may meet while a dependency is briefly away; the next pass retries.
TRANSIENT_ERRORS = (SQLAlchemyError, StorageError, LockUnavailable, OSError)


@dataclass(frozen=True)
class CleanupReport:
    expired: int
    swept: int
    posters: int = 0  # retired poster versions deleted (ingest.posters)


def run_cleanup(ingest: Ingest, now: datetime | None = None) -> CleanupReport:
    """One cleanup pass (blocking)."""
    now = now or datetime.now(UTC)
    expired = 0
    for upload in expired_uploads(ingest.catalog, now):
        if end_upload(ingest.catalog, upload.id, UploadState.EXPIRED, "the upload expired before it finished"):
            try:
                ingest.store.discard(upload)
            except StorageError as exc:
                # One upload's storage must not hold up the others; the sweep below (now or in a later
                # pass) reclaims what it left, as it is no longer open.
                log.warning("could not discard expired upload %s: %s", upload.id, exc)
            ingest.metrics.uploads.labels("expired").inc()
            expired += 1
    # A partial upload's bytes wait for a final upload (which deletes them once assembled) only as long
    # as an unfinished upload would.
    bucket = ingest.settings.storage.staging_bucket
    expiry = timedelta(seconds=ingest.settings.upload_expiry_seconds)
    for partial in unclaimed_partials(ingest.catalog, now - expiry):
        ingest.objects.delete(bucket, partial.target_key)
        mark_expired(ingest.catalog, partial.id)
        expired += 1
    swept = ingest.store.sweep(open_upload_ids(ingest.catalog))
    return CleanupReport(expired, swept, sweep_retired(ingest, now))


async def finish_stranded(ingest: Ingest, idle_seconds: float = 60.0) -> int:
    """Complete uploads whose every byte is stored but whose completion never ran (the process died
    in between) and whose client never came back to ask (a HEAD would complete them too)."""
    cutoff = datetime.now(UTC) - timedelta(seconds=idle_seconds)
    finished = 0
    for upload in await run_in_threadpool(idle_uploads, ingest.catalog, cutoff):
        final = upload.concat == "final"
        bucket = ingest.settings.storage.staging_bucket
        if not final and await run_in_threadpool(ingest.store.offset, upload, bucket) != upload.length:
            continue
        async with ingest.locker.hold(upload.id):
            fresh = await run_in_threadpool(get_upload, ingest.catalog, upload.id)
            if fresh is not None and fresh.state == UploadState.OPEN:
                await ingest.complete(fresh, final=final)
                finished += 1
    return finished


async def cleanup_forever(
    ingest: Ingest,
    interval: float,
    stopping: asyncio.Event | None = None,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """A cleanup pass every `interval` seconds until cancelled or `stopping` is set.

    A pass that fails (the catalog, storage or the lock backend unreachable for a while) is logged and
    the next one runs on time: the loop never dies of it. `stopping` ends the loop even when a cancel is
    lost in a library call (see ingest/locks.py)."""
    while stopping is None or not stopping.is_set():
        await sleep(interval)
        if stopping is not None and stopping.is_set():
            return
        try:
            report = await run_in_threadpool(run_cleanup, ingest)
            stranded = await finish_stranded(ingest)
        except TRANSIENT_ERRORS as exc:
            log.warning("ingest cleanup failed, next try in %g s: %s", interval, exc)
            continue
        except Exception:
            # Not a known transient failure: worth a traceback, still no reason to stop cleaning up.
            log.exception("ingest cleanup failed unexpectedly, next try in %g s", interval)
            continue
        if report.expired or report.swept or report.posters or stranded:
            log.info(
                "ingest cleanup: %d uploads expired, %d leftovers removed, %d stranded uploads finished, "
                "%d retired poster versions deleted",
                report.expired,
                report.swept,
                stranded,
                report.posters,
            )
