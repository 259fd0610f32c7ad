"""Publishing an asset's caption tracks beside its ladder, and keeping its entry points in step.

`republish` is the one way tracks reach players, called by the job once its ladder is published and by
the API after a track is uploaded, replaced or deleted on a ready asset. Under a lock on the asset's row it
reads every track, writes each as segmented WebVTT (HLS) and one file (DASH) under versioned keys
(`<attempt prefix>captions/<track id>/v<version>/`), rewrites the MPD and then the multivariant playlist
with exactly those tracks (manifests.subtitles), and removes the objects of versions no longer listed.

Caching: WebVTT objects are cached for a day (httpsemantics.caching), but a changed track gets a new
version and so new URLs: no cache can serve old cues under a new list. The multivariant playlist keeps its
URL (it is the playback URL) and is rewritten in place; caches keep a finished playlist for the origin's
vod_playlist_max_age (60 s, plus 60 s stale-while-revalidate), after which every edge lists the new tracks.
Within that window an edge may still serve the previous list, whose removed version then answers 404 and
that one track does not show; the ingest cannot purge edges (it does not know them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import m3u8
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from captions import cues as cue_reader
from captions.tracks import EMBEDDED, GENERATED, GENERATED_SUFFIX
from captions.webvtt import (
    FULL_NAME,
    PLAYLIST_NAME,
    SEGMENT_PATTERN,
    SegmentGrid,
    render_file,
    render_playlist,
    render_segments,
)
from catalog.captions import CaptionTrack
from catalog.models import Asset, AssetState, utcnow
from catalog.session import Catalog
from manifests.errors import ManifestInvalid
from manifests.mime import content_type_for
from manifests.subtitles import SubtitleTrack, add_to_master, add_to_mpd
from manifests.validate import check_master
from storage.errors import ObjectMissing
from storage.objects import ObjectStore
from webhooks import events, outbox

CAPTIONS_DIR = "captions/"
GRID_NAME = "captions/grid.json"


@dataclass(frozen=True)
class MediaBucket:
    store: ObjectStore
    bucket: str

    def put_text(self, key: str, text: str) -> None:
        self.store.put_bytes(self.bucket, key, text.encode(), content_type_for(key))

    def get_text(self, key: str) -> str:
        return self.store.get_bytes(self.bucket, key).decode()


def lock_asset(session: Session, asset_id: str) -> Asset | None:
    """The asset, its row locked until `session` ends (an UPDATE: a row lock in PostgreSQL, the write
    lock in SQLite), so republishes and track changes of one asset happen one after the other."""
    session.execute(update(Asset).where(Asset.id == asset_id).values(updated_at=utcnow()))
    return session.get(Asset, asset_id, populate_existing=True)


def tracks_of(session: Session, asset_id: str) -> list[CaptionTrack]:
    """The asset's tracks in menu order: uploads, then the source's, then generated; by language."""
    rows = session.scalars(select(CaptionTrack).where(CaptionTrack.asset_id == asset_id)).all()
    order = {EMBEDDED: 1, GENERATED: 2}
    return sorted(rows, key=lambda t: (order.get(t.source.split("-")[0], 0), t.language, t.source))


def republish(catalog: Catalog, media: MediaBucket, asset_id: str, grid: SegmentGrid | None = None) -> int:
    """Publish the asset's tracks and rewrite its entry points; the number of tracks listed.

    `grid` is the video's segment grid (the job passes it and it is kept beside the captions); without it,
    the grid kept by the job is read. Does nothing (0) unless the asset is ready. Blocking.
    """
    with catalog.session() as session:
        asset = lock_asset(session, asset_id)
        if asset is None or asset.state != AssetState.READY or not asset.master_key:
            return 0
        prefix = asset.master_key.rpartition("/")[0] + "/"
        rows = tracks_of(session, asset_id)
        if grid is not None and not rows:
            return 0  # the job's new package has no tracks to list: left exactly as the job published it
        if grid is None:
            grid = _read_grid(media, prefix, asset.master_key)
        else:
            media.put_text(prefix + GRID_NAME, json.dumps({"durations": grid.durations, "start": grid.start}))
        listed: list[SubtitleTrack] = []
        for row in rows:
            folder = f"{prefix}{CAPTIONS_DIR}{row.id}/v{row.version}/"
            # A version's objects never change: written once per attempt prefix (an asset with a long ladder
            # has thousands of segments per track, and every change of one track republishes the list).
            if row.published_key != folder + PLAYLIST_NAME:
                cues = cue_reader.parse(row.vtt.encode())  # stored normalised: cannot fail but for a bug
                for index, text in enumerate(render_segments(cues, grid), start=1):
                    media.put_text(folder + SEGMENT_PATTERN.format(index), text)
                media.put_text(folder + FULL_NAME, render_file(cues))
                media.put_text(folder + PLAYLIST_NAME, render_playlist(grid))
            relative = folder.removeprefix(prefix)
            listed.append(
                SubtitleTrack(
                    id=f"text-{row.id[:12]}-{row.version}",
                    language=row.language,
                    name=row.label + (GENERATED_SUFFIX if row.source == GENERATED else ""),
                    playlist_uri=relative + PLAYLIST_NAME,
                    file_uri=relative + FULL_NAME,
                    kind=row.kind,
                    default=row.is_default,
                    forced=row.forced,
                )
            )
            if row.published_key != folder + PLAYLIST_NAME:
                row.published_key = folder + PLAYLIST_NAME
                outbox.record(session, asset.owner, events.CAPTIONS_READY, _event_data(asset, row))
        master = add_to_master(media.get_text(asset.master_key), listed)
        problems = check_master(master)
        if problems:  # never publish a master a player would refuse; the previous one stays
            raise ManifestInvalid(problems)
        # The MPD first, the multivariant playlist last (the playback URL players open first).
        if asset.dash_key:
            media.put_text(asset.dash_key, add_to_mpd(media.get_text(asset.dash_key), listed))
        media.put_text(asset.master_key, master)
        keep = {f"{prefix}{CAPTIONS_DIR}{row.id}/v{row.version}/" for row in rows}
        _remove_unlisted(media, prefix, keep)
        return len(listed)


def _event_data(asset: Asset, row: CaptionTrack) -> dict[str, object]:
    return {
        "asset_id": asset.id,
        "track_id": row.id,
        "language": row.language,
        "label": row.label,
        "kind": row.kind,
        "source": row.source.split("-")[0],
        "version": row.version,
    }


def _read_grid(media: MediaBucket, prefix: str, master_key: str) -> SegmentGrid:
    try:
        kept = json.loads(media.get_text(prefix + GRID_NAME))
        return SegmentGrid(tuple(float(d) for d in kept["durations"]), float(kept["start"]))
    except ObjectMissing:
        # The job kept no grid (it had no tracks): the first variant's EXTINFs; our CMAF media start at 0.
        master = m3u8.loads(media.get_text(master_key))
        variant = m3u8.loads(media.get_text(prefix + master.playlists[0].uri))
        return SegmentGrid(tuple(float(s.duration) for s in variant.segments))


def _remove_unlisted(media: MediaBucket, prefix: str, keep: set[str]) -> None:
    for info in list(media.store.list(media.bucket, prefix + CAPTIONS_DIR)):
        if info.key == prefix + GRID_NAME or any(info.key.startswith(folder) for folder in keep):
            continue
        media.store.delete(media.bucket, info.key)


def grid_of(durations: Sequence[float], start: float) -> SegmentGrid:
    """The grid of the lowest video rung: its segment durations and the first segment's start."""
    return SegmentGrid(tuple(round(d, 6) for d in durations), round(start, 6))
