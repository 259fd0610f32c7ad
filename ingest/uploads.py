"""Catalog access for uploads and the assets they become (blocking: call from worker threads)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Executable, select, update
from sqlalchemy.orm import Session

from catalog.models import Asset, AssetState, Upload, UploadState
from catalog.session import Catalog
from ingest.admission import DOWNLOADS_KEY, loudnorm_option, switch
from ingest.store import UploadInfo
from webhooks import events, outbox

LIVE_STATES = (UploadState.OPEN,)


def rows_changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE/DELETE and return how many rows it changed (conditional updates are our CAS)."""
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


def to_info(row: Upload) -> UploadInfo:
    parts = tuple((row.concat_parts or {}).get("ids", ()))
    expires = row.expires_at
    if expires is not None and expires.tzinfo is None:
        # SQLite drops the zone; every timestamp we write is UTC.
        expires = expires.replace(tzinfo=UTC)
    return UploadInfo(
        id=row.id,
        state=row.state,
        length=row.length,
        offset=row.offset,
        concat=row.concat,
        concat_parts=parts,
        meta=dict(row.meta or {}),
        store_state=dict(row.store_state or {}),
        expires_at=expires,
        asset_id=row.asset_id,
        staging_key=row.staging_key,
        sha256=row.sha256,
        owner=row.owner,
    )


def title_of(meta: dict[str, Any]) -> str | None:
    for key in ("filename", "name", "title"):
        if meta.get(key):
            return str(meta[key])[:512]
    return None


def create_upload(
    catalog: Catalog,
    upload_id: str,
    *,
    length: int | None,
    meta: dict[str, Any],
    concat: str | None,
    parts: tuple[str, ...],
    store_state: dict[str, Any],
    expiry: timedelta,
    owner: str | None = None,
) -> UploadInfo:
    """Record a new upload; every upload but a partial one gets its asset, in state "uploading"."""
    now = datetime.now(UTC)
    with catalog.session() as session:
        row = Upload(
            id=upload_id,
            state=UploadState.OPEN,
            length=length,
            offset=0,
            meta=meta,
            concat=concat,
            concat_parts={"ids": list(parts)} if parts else None,
            store_state=store_state,
            owner=owner,
            created_at=now,
            expires_at=now + expiry,
        )
        if concat != "partial":
            # Upload-Metadata "visibility: private" makes playback need a signed URL.
            public = str(meta.get("visibility") or "public").lower() != "private"
            asset = Asset(
                state=AssetState.UPLOADING,
                title=title_of(meta),
                upload_id=upload_id,
                public=public,
                owner=owner,
                mp4_downloads=switch(meta, DOWNLOADS_KEY),
                loudnorm=loudnorm_option(meta),
            )
            session.add(asset)
            session.flush()
            row.asset_id = asset.id
            outbox.record_asset(session, asset, events.ASSET_CREATED)
        session.add(row)
        session.flush()
        return to_info(row)


def get_upload(catalog: Catalog, upload_id: str) -> UploadInfo | None:
    with catalog.session() as session:
        row = session.get(Upload, upload_id)
        return None if row is None else to_info(row)


def get_uploads(catalog: Catalog, ids: tuple[str, ...]) -> dict[str, UploadInfo]:
    with catalog.session() as session:
        rows = session.scalars(select(Upload).where(Upload.id.in_(ids))).all()
        return {row.id: to_info(row) for row in rows}


def record_progress(
    catalog: Catalog, upload_id: str, *, offset: int, length: int | None, expiry: timedelta
) -> datetime:
    """Mirror the storage offset (and a newly declared length) and push the expiry back."""
    expires = datetime.now(UTC) + expiry
    values: dict[str, Any] = {"offset": offset, "expires_at": expires}
    if length is not None:
        values["length"] = length
    with catalog.session() as session:
        session.execute(update(Upload).where(Upload.id == upload_id).values(**values))
    return expires


def end_upload(catalog: Catalog, upload_id: str, state: str, asset_error: str | None = None) -> bool:
    """Mark an open upload terminated or expired and retire its asset. False if it was not open."""
    with catalog.session() as session:
        done = rows_changed(
            session,
            update(Upload).where(Upload.id == upload_id, Upload.state == UploadState.OPEN).values(state=state),
        )
        if not done:
            return False
        row = session.get(Upload, upload_id)
        if row is not None and row.asset_id:
            asset = session.get(Asset, row.asset_id)
            if asset is not None and asset.state == AssetState.UPLOADING:
                if asset_error:
                    asset.state, asset.error = AssetState.FAILED, asset_error
                else:
                    asset.state = AssetState.DELETED
                outbox.record_asset(session, asset, events.ASSET_FAILED if asset_error else events.ASSET_DELETED)
        return True


def expired_uploads(catalog: Catalog, now: datetime) -> list[UploadInfo]:
    with catalog.session() as session:
        rows = session.scalars(select(Upload).where(Upload.state == UploadState.OPEN, Upload.expires_at < now)).all()
        return [to_info(row) for row in rows]


def unclaimed_partials(catalog: Catalog, before: datetime) -> list[UploadInfo]:
    """Finished partial uploads no final upload claimed before `before`: their bytes are reclaimable."""
    with catalog.session() as session:
        rows = session.scalars(
            select(Upload).where(
                Upload.state == UploadState.COMPLETE,
                Upload.concat == "partial",
                Upload.completed_at < before,
            )
        ).all()
        return [to_info(row) for row in rows]


def mark_expired(catalog: Catalog, upload_id: str) -> None:
    with catalog.session() as session:
        session.execute(update(Upload).where(Upload.id == upload_id).values(state=UploadState.EXPIRED))


def open_upload_ids(catalog: Catalog) -> set[str]:
    with catalog.session() as session:
        return set(session.scalars(select(Upload.id).where(Upload.state.in_(LIVE_STATES))).all())


def forget_upload(catalog: Catalog, upload_id: str) -> None:
    """Terminate a finished upload: its URL answers 404 from now on; its asset lives on."""
    with catalog.session() as session:
        session.execute(update(Upload).where(Upload.id == upload_id).values(state=UploadState.TERMINATED))


def idle_uploads(catalog: Catalog, before: datetime) -> list[UploadInfo]:
    """Open uploads with a known length untouched since `before` (completion candidates)."""
    with catalog.session() as session:
        rows = session.scalars(
            select(Upload).where(
                Upload.state == UploadState.OPEN,
                Upload.length.is_not(None),
                Upload.updated_at < before,
            )
        ).all()
        return [to_info(row) for row in rows]
