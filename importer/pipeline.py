"""One import, start to end: download (download.py), stage the original, check it as an upload's
original is checked (ingest.content: the sandboxed probe), queue its transcode.

Idempotent: an asset not in state "importing" (done, failed, deleted meanwhile) is left alone; the
move to "queued" is a conditional UPDATE in the transaction that creates the job and records
upload.completed, so a retried task yields one job. The partial download stays in the spool
directory until the import ends, so a retried task resumes from its bytes.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from catalog.models import Asset, AssetState, Job, JobState
from catalog.session import Catalog, rows_updated
from egress.targets import Resolver, system_resolver
from importer.download import Download, DownloadLimits
from importer.errors import SourceFailed
from importer.settings import ImportSettings
from ingest.content import ContentReport, check_original
from ingest.errors import ContentRejected
from media.settings import ProbeSettings
from storage.objects import ObjectStore
from webhooks import events, outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportContext:
    catalog: Catalog
    objects: ObjectStore
    staging_bucket: str
    settings: ImportSettings
    probe: ProbeSettings
    enqueue: Callable[[str], None]  # queue a transcode job (after its transaction committed)
    resolver: Resolver = system_resolver
    transport: Any = None  # an httpx transport (tests); None: the network


def limits_of(settings: ImportSettings) -> DownloadLimits:
    return DownloadLimits(
        max_bytes=settings.max_bytes,
        total_seconds=settings.total_seconds,
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        max_redirects=settings.max_redirects,
        max_resumes=settings.max_resumes,
    )


def staging_key(asset_id: str) -> str:
    return f"originals/import-{asset_id}"


def _stage(ctx: ImportContext, path: Path, key: str, size: int) -> str:
    """Store the downloaded file as the original; its SHA-256 (upload.completed carries it, as for uploads)."""
    with path.open("rb") as f:
        sha256 = hashlib.file_digest(f, "sha256").hexdigest()
        f.seek(0)
        ctx.objects.put_stream(ctx.staging_bucket, key, f, size)
    return sha256


def _fail(ctx: ImportContext, asset_id: str, reason: str) -> None:
    with ctx.catalog.session() as session:
        asset = session.get(Asset, asset_id)
        if asset is None or asset.state != AssetState.IMPORTING:
            return
        asset.state, asset.error = AssetState.FAILED, reason
        outbox.record_asset(session, asset, events.ASSET_FAILED)


def _beat(catalog: Catalog, asset_id: str) -> None:
    """Mark the import alive: requeue_stale leaves it alone while this is recent."""
    with catalog.session() as session:
        session.execute(
            update(Asset)
            .where(Asset.id == asset_id, Asset.state == AssetState.IMPORTING)
            .values(updated_at=datetime.now(UTC))
        )


def requeue_stale(
    catalog: Catalog, enqueue: Callable[[str], None], *, now: datetime, stale_seconds: float
) -> list[str]:
    """Queue again the imports whose worker stopped marking them (it died); their ids. Each is claimed
    with a conditional UPDATE of its mark, so several sweepers queue it once."""
    cutoff = now - timedelta(seconds=stale_seconds)
    claimed: list[str] = []
    with catalog.session() as session:
        rows = session.execute(
            select(Asset.id, Asset.updated_at).where(Asset.state == AssetState.IMPORTING, Asset.updated_at < cutoff)
        ).all()
        for asset_id, marked in rows:
            took = rows_updated(
                session,
                update(Asset)
                .where(Asset.id == asset_id, Asset.state == AssetState.IMPORTING, Asset.updated_at == marked)
                .values(updated_at=now),
            )
            if took:
                claimed.append(asset_id)
    for asset_id in claimed:  # after the commit
        enqueue(asset_id)
    return claimed


@contextmanager
def _only_run(spool: Path, asset_id: str) -> Iterator[bool]:
    """Whether this is the only run of the import on this machine (a redelivered message, or the stale
    sweep, while the first run is alive but slow): two runs must not append to one partial download."""
    spool.mkdir(parents=True, exist_ok=True)
    with (spool / f"{asset_id}.lock").open("a") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True  # the lock goes with the file's close


def run_import(ctx: ImportContext, asset_id: str) -> str:
    """Import the source of `asset_id`; the outcome ("queued", "failed", "skipped", "busy") for logs and tests."""
    with _only_run(ctx.settings.spool_dir, asset_id) as alone:
        if not alone:
            return "busy"
        outcome = _run_import(ctx, asset_id)
    (ctx.settings.spool_dir / f"{asset_id}.lock").unlink(missing_ok=True)
    return outcome


def _run_import(ctx: ImportContext, asset_id: str) -> str:
    with ctx.catalog.session() as session:
        asset = session.get(Asset, asset_id)
        if asset is None or asset.state != AssetState.IMPORTING or not asset.source_url:
            return "skipped"
        url, owner = asset.source_url, asset.owner
    download = Download(
        url,
        ctx.settings.spool_dir / f"{asset_id}.part",
        limits_of(ctx.settings),
        allow_private=ctx.settings.allow_private_sources,
        resolver=ctx.resolver,
        transport=ctx.transport,
        heartbeat=lambda: _beat(ctx.catalog, asset_id),
        heartbeat_seconds=ctx.settings.heartbeat_seconds,
    )
    try:
        got = download.run()
    except SourceFailed as exc:
        download.discard()
        _fail(ctx, asset_id, f"the import failed: {exc.reason}")
        return "failed"
    key = staging_key(asset_id)
    sha256 = _stage(ctx, download.dest, key, got.size)
    download.discard()
    report: ContentReport | None = None
    rejection = None
    try:
        report = check_original(ctx.objects, ctx.staging_bucket, key, probe=ctx.probe)
    except ContentRejected as exc:
        rejection = exc.reason
    job_id = _record(ctx, asset_id, owner, key, got.size, sha256, url, report, rejection)
    if job_id is None:
        return "failed" if rejection else "skipped"
    ctx.enqueue(job_id)
    log.info("imported %s (%d bytes, %d resumes) for asset %s", url, got.size, got.resumes, asset_id)
    return "queued"


def _record(
    ctx: ImportContext,
    asset_id: str,
    owner: str | None,
    key: str,
    size: int,
    sha256: str,
    url: str,
    report: ContentReport | None,
    rejection: str | None,
) -> str | None:
    """The move out of "importing", its events and its job, in one transaction; the job id or None."""
    with ctx.catalog.session() as session:
        values: dict[str, Any] = {"staging_key": key}
        if report is None:
            values.update(state=AssetState.FAILED, error=rejection or "the original could not be checked")
        else:
            values.update(state=AssetState.QUEUED, duration=report.duration, width=report.width, height=report.height)
        moved = rows_updated(
            session,
            update(Asset).where(Asset.id == asset_id, Asset.state == AssetState.IMPORTING).values(**values),
        )
        if not moved:
            # Deleted (or already imported) meanwhile: this copy of the original belongs to no one.
            ctx.objects.delete(ctx.staging_bucket, key)
            return None
        data = {"upload_id": None, "asset_id": asset_id, "length": size, "sha256": sha256, "source_url": url}
        outbox.record(session, owner, events.UPLOAD_COMPLETED, data)
        asset = session.get(Asset, asset_id)
        if asset is None:
            return None
        if report is None:
            outbox.record_asset(session, asset, events.ASSET_FAILED)
            return None
        job = Job(asset_id=asset_id, kind="transcode", state=JobState.QUEUED)
        session.add(job)
        session.flush()
        return job.id
