"""What happens when every byte of an upload is in: stage the original, check it, queue one transcode.

The catalog transition is a conditional UPDATE (open -> complete) inside the transaction that creates the
job, so a retried final PATCH, a HEAD after a crash, or two processes finishing at once still yield
exactly one job. The job is sent to the broker only after that transaction committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import update

from catalog.models import Asset, AssetState, Job, JobState, Upload, UploadState
from catalog.session import Catalog
from ingest.content import ContentReport, check_original
from ingest.errors import ContentRejected, TusError
from ingest.store import ConcatenatedReader, UploadInfo, UploadStore, as_stream
from ingest.uploads import get_uploads, rows_changed
from media.settings import ProbeSettings
from storage.objects import ObjectStore
from webhooks import events, outbox


@dataclass(frozen=True)
class Finished:
    moved: bool  # this call took the upload from open to complete
    job_id: str | None = None  # the transcode job to enqueue (after the commit, by the caller)
    rejection: str | None = None  # why the original was refused


@dataclass(frozen=True)
class Finisher:
    catalog: Catalog
    store: UploadStore
    objects: ObjectStore
    bucket: str
    probe: ProbeSettings | None = None  # the sandboxed probe's limits; None: magic bytes only

    def finish(self, upload: UploadInfo) -> Finished:
        """Stage and check a complete upload (idempotent: a second call reports `moved=False`)."""
        sha256 = self.store.finish(upload, self.bucket)
        return self._record(upload, sha256)

    def assemble(self, upload: UploadInfo) -> Finished:
        """Concatenate the partial uploads of a final upload into its original, hashing on the way."""
        partials = get_uploads(self.catalog, upload.concat_parts)
        sources = [self.objects.read_range(self.bucket, partials[pid].target_key) for pid in upload.concat_parts]
        reader = ConcatenatedReader(sources)
        self.objects.put_stream(self.bucket, upload.target_key, as_stream(reader), upload.length or 0)
        finished = self._record(upload, reader.sha256.hexdigest())
        # The partials served their purpose: reclaim them now rather than at expiry.
        for pid in upload.concat_parts:
            self.objects.delete(self.bucket, partials[pid].target_key)
        return finished

    def _record(self, upload: UploadInfo, sha256: str) -> Finished:
        report: ContentReport | None = None
        rejection: str | None = None
        if upload.concat != "partial":
            try:
                report = check_original(self.objects, self.bucket, upload.target_key, probe=self.probe)
            except ContentRejected as exc:
                rejection = exc.reason
        now = datetime.now(UTC)
        with self.catalog.session() as session:
            moved = rows_changed(
                session,
                update(Upload)
                .where(Upload.id == upload.id, Upload.state == UploadState.OPEN)
                .values(
                    state=UploadState.COMPLETE,
                    offset=upload.length,
                    staging_key=upload.target_key,
                    sha256=sha256,
                    completed_at=now,
                ),
            )
            if not moved:
                return Finished(False)
            if upload.concat != "partial":
                outbox.record_upload(session, upload.owner, upload.id, upload.asset_id, upload.length, sha256)
            asset = session.get(Asset, upload.asset_id) if upload.asset_id else None
            if asset is None or asset.state != AssetState.UPLOADING:
                return Finished(True)
            asset.staging_key = upload.target_key
            if report is None:
                asset.state, asset.error = AssetState.FAILED, rejection or "the original could not be checked"
                outbox.record_asset(session, asset, events.ASSET_FAILED)
                return Finished(True, rejection=asset.error)
            asset.state = AssetState.QUEUED
            asset.duration, asset.width, asset.height = report.duration, report.width, report.height
            job = Job(asset_id=asset.id, kind="transcode", state=JobState.QUEUED)
            session.add(job)
            session.flush()
            return Finished(True, job_id=job.id)


def check_partials(catalog: Catalog, ids: tuple[str, ...]) -> int:
    """Total length of the partial uploads of a final upload; TusError unless all are finished partials."""
    partials = get_uploads(catalog, ids)
    total = 0
    for pid in ids:
        part = partials.get(pid)
        if part is None or part.concat != "partial":
            raise TusError("invalid-concat", f"{pid} is not a partial upload of this server")
        if part.state != UploadState.COMPLETE or part.length is None:
            raise TusError("concat-not-finished", f"partial upload {pid} is not finished")
        total += part.length
    return total
