"""An asset's caption tracks in the catalog: add or replace, delete, list. Blocking (catalog I/O).

Each change happens under the asset's row lock (captions.publish.lock_asset), like republishing, so a
track saved while the job publishes is either seen by the job's republish or republishes itself.
Ownership is the caller's to check (the API answers another owner's asset as missing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete as sa_delete
from sqlalchemy import select
from sqlalchemy.orm import Session

from captions.cues import Cue
from captions.publish import lock_asset, tracks_of
from captions.tracks import TrackOptions
from captions.webvtt import render_file
from catalog.captions import CaptionSettings, CaptionTrack
from catalog.models import Asset, AssetState, utcnow
from catalog.session import Catalog


@dataclass(frozen=True)
class TrackInfo:
    id: str
    language: str
    source: str
    label: str
    kind: str
    default: bool
    forced: bool
    version: int
    cues: int
    published: bool


class AssetGone(LookupError):
    """No such asset (or deleted): the API answers 404."""


class AssetFailed(RuntimeError):
    """The asset's job failed: there is nothing to caption (409)."""


def info(row: CaptionTrack) -> TrackInfo:
    return TrackInfo(
        id=row.id,
        language=row.language,
        source=row.source,
        label=row.label,
        kind=row.kind,
        default=row.is_default,
        forced=row.forced,
        version=row.version,
        cues=row.cue_count,
        published=row.published_key is not None,
    )


def owner_of(catalog: Catalog, asset_id: str) -> tuple[bool, str | None]:
    """(exists and is not deleted, its owner)."""
    with catalog.session() as session:
        asset = session.get(Asset, asset_id)
        if asset is None or asset.state == AssetState.DELETED:
            return False, None
        return True, asset.owner


def save(
    catalog: Catalog, asset_id: str, language: str, source: str, options: TrackOptions, cues: Sequence[Cue]
) -> tuple[TrackInfo, bool]:
    """Add the track, or replace the one of this language and source (its version grows); (track, created)."""
    with catalog.session() as session:
        asset = lock_asset(session, asset_id)
        if asset is None or asset.state == AssetState.DELETED:
            raise AssetGone(asset_id)
        if asset.state == AssetState.FAILED:
            raise AssetFailed(f"asset {asset_id} failed to transcode: {asset.error or 'no reason recorded'}")
        row = _find(session, asset_id, language, source)
        created = row is None
        if row is None:
            row = CaptionTrack(asset_id=asset_id, language=language, source=source, version=1)
            session.add(row)
        else:
            row.version += 1
            row.updated_at = utcnow()
        row.label, row.kind, row.forced = options.label, options.kind, options.forced
        row.is_default = options.default
        row.vtt, row.cue_count = render_file(cues), len(cues)
        session.flush()
        if options.default:  # one default per asset: the newest wins
            for other in tracks_of(session, asset_id):
                if other.id != row.id:
                    other.is_default = False
        return info(row), created


def delete(catalog: Catalog, asset_id: str, language: str, source: str) -> bool:
    """Remove the track; False when the asset has none of this language and source."""
    with catalog.session() as session:
        asset = lock_asset(session, asset_id)
        if asset is None or asset.state == AssetState.DELETED:
            raise AssetGone(asset_id)
        row = _find(session, asset_id, language, source)
        if row is None:
            return False
        session.delete(row)
        return True


def generate_setting(catalog: Catalog, asset_id: str) -> bool:
    """Whether the asset wants captions generated from speech (the default: yes)."""
    with catalog.session() as session:
        options = session.get(CaptionSettings, asset_id)
        return True if options is None else options.generate


def set_generate(catalog: Catalog, asset_id: str, generate: bool) -> bool:
    """Record the setting; whether the asset is ready (then turning it on should queue the job now)."""
    with catalog.session() as session:
        asset = lock_asset(session, asset_id)
        if asset is None or asset.state == AssetState.DELETED:
            raise AssetGone(asset_id)
        options = session.get(CaptionSettings, asset_id)
        if options is None:
            session.add(CaptionSettings(asset_id=asset_id, generate=generate))
        else:
            options.generate = generate
        return asset.state == AssetState.READY


def forget(session: Session, asset_id: str) -> None:
    """Remove the asset's tracks (their text is the creator's) in the caller's transaction: its deletion."""
    session.execute(sa_delete(CaptionTrack).where(CaptionTrack.asset_id == asset_id))
    session.execute(sa_delete(CaptionSettings).where(CaptionSettings.asset_id == asset_id))


def listing(catalog: Catalog, asset_id: str) -> list[TrackInfo]:
    with catalog.session() as session:
        return [info(row) for row in tracks_of(session, asset_id)]


def _find(session: Session, asset_id: str, language: str, source: str) -> CaptionTrack | None:
    return session.scalars(
        select(CaptionTrack).where(
            CaptionTrack.asset_id == asset_id, CaptionTrack.language == language, CaptionTrack.source == source
        )
    ).first()
