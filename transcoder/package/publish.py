"""Publishing one attempt's verified outputs, fenced by its number (transcoder.worker.attempt).

Everything goes under the attempt's own prefix: media first, then the media playlists, then the
DASH manifest and the multivariant playlist, so that a player never sees a playlist naming an
object not yet stored; then the one catalog update, conditional on the attempt still holding the
job, that points the asset at them and makes it ready. The progressive publisher (early segments
and a partial master while the encode runs) writes under the same prefix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import update

from catalog.models import Asset, AssetState, Job, JobState, Rendition, utcnow
from catalog.session import rows_updated
from manifests import bandwidth, dash, hls, validate
from manifests.mime import content_type_for
from manifests.model import Track
from media.probe import MediaInfo
from transcoder import metrics
from transcoder.encode.commands import WAVEFORM_NAME
from transcoder.encode.ladder import Ladder
from transcoder.encode.previews import STORYBOARD_IMAGE, STORYBOARD_VTT, THUMBNAIL_DIR, Previews, render_vtt
from transcoder.errors import EncodeFailed, Superseded
from transcoder.package.downloads import Download
from transcoder.package.progressive import ProgressivePublisher, mark_playable
from transcoder.worker.attempt import Attempt
from transcoder.worker.sweeper import current_attempt
from webhooks import events, outbox

if TYPE_CHECKING:
    from transcoder.pipeline import PipelineContext

MASTER_NAME = "master.m3u8"
MPD_NAME = "manifest.mpd"
POSTER_NAME = "poster.jpg"


def publish_package(
    ctx: PipelineContext,
    attempt: Attempt,
    out: Path,
    videos: list[Track],
    audios: list[Track],
    info: MediaInfo,
    previews: Previews | None,
    *,
    skip: set[str] | frozenset[str] = frozenset(),
    downloads: Sequence[Download] = (),
    quality: Mapping[str, tuple[float | None, float | None]] | None = None,
) -> None:
    """Validate the package, upload it under the attempt's prefix (media, media playlists, the DASH
    manifest, the multivariant playlist last) and make the asset ready. Raises Superseded when the
    attempt no longer holds the job: then the asset is left as it was."""
    media_texts = {t.playlist_uri: hls.render_media(t) for t in [*videos, *audios]}
    iframe_texts = {t.iframe_playlist_uri: hls.render_iframes(t) for t in videos if t.has_iframe_ranges}
    master = hls.render_master(videos, audios)
    mpd = dash.render_mpd(videos, audios, duration=max(t.duration for t in videos or audios))
    known = {f"{t.name}/{u}" for t in [*videos, *audios] for u in [t.init_uri, *(s.uri for s in t.segments)]}
    known |= set(media_texts) | set(iframe_texts)
    validate.validate_package(
        master, {**media_texts, **iframe_texts}, tracks=[*videos, *audios], known_uris=known, mpd_text=mpd
    )
    asset_id, prefix = attempt.asset_id, attempt.prefix
    if previews is not None:
        _publish_previews(ctx, prefix, out, previews, info.duration)
    # Media first, then media playlists, then the entry points: a player never sees a playlist
    # that names an object not yet stored.
    for track in [*audios, *videos]:
        for name in [track.init_uri, *(s.uri for s in track.segments)]:
            if f"{track.name}/{name}" in skip:
                continue  # uploaded while the encode ran (transcoder.package.progressive)
            put_file(ctx, prefix + f"{track.name}/{name}", out / track.name / name)
    # The picture of the asset: a frame of the video, or the waveform of an audio-only one.
    picture = POSTER_NAME if videos else WAVEFORM_NAME
    put_file(ctx, prefix + picture, out / picture)
    for download in downloads:
        put_file(ctx, prefix + download.key, download.path)
    for uri, text in {**media_texts, **iframe_texts}.items():
        put_text(ctx, prefix + uri, text)
    put_text(ctx, prefix + MPD_NAME, mpd)
    put_text(ctx, prefix + MASTER_NAME, master)

    with ctx.catalog.session() as s:
        now = utcnow()
        # The fence: only the attempt that still holds the job makes the asset ready.
        won = rows_updated(
            s,
            update(Job)
            .where(current_attempt(attempt.job_id, attempt.number))
            .values(state=JobState.SUCCEEDED, finished_at=now),
        )
        if not won:
            raise Superseded(f"attempt {attempt.number} of job {attempt.job_id} lost its job before publishing")
        asset = s.get(Asset, asset_id)
        job = s.get(Job, attempt.job_id)
        if asset is None:
            return
        asset.renditions.clear()
        s.flush()
        for track in [*videos, *audios]:
            peak, average = _measured(track)
            asset.renditions.append(
                Rendition(
                    name=track.name,
                    kind=track.kind,
                    width=track.width,
                    height=track.height,
                    frame_rate=track.frame_rate,
                    codecs=track.codecs,
                    bandwidth=peak,
                    average_bandwidth=average,
                    playlist_key=prefix + track.playlist_uri,
                    state="ready",
                    # Content-aware ladders: (target, sampled) VMAF of the rung (transcoder.encode.fitted).
                    target_vmaf=(quality or {}).get(track.name, (None, None))[0],
                    sampled_vmaf=(quality or {}).get(track.name, (None, None))[1],
                )
            )
        asset.master_key, asset.dash_key = prefix + MASTER_NAME, prefix + MPD_NAME
        asset.downloads = [d.as_dict(prefix) for d in downloads]
        asset.state, asset.progress, asset.eta_seconds, asset.ready_at = AssetState.READY, 1.0, 0.0, now
        if asset.first_playable_at is None and job is not None:
            metrics.record_first_playable(metrics.elapsed_seconds(job.created_at, now))
        if asset.first_playable_at is None:
            outbox.record_asset(s, asset, events.ASSET_PLAYABLE)
        asset.first_playable_at = asset.first_playable_at or now
        outbox.record_asset(s, asset, events.ASSET_READY)


def progressive_publisher(ctx: PipelineContext, attempt: Attempt, out: Path, ladder: Ladder) -> ProgressivePublisher:
    prefix = attempt.prefix
    return ProgressivePublisher(
        out,
        ladder,
        segment_seconds=ctx.settings.segment_seconds,
        put_file=lambda key, path: put_file(ctx, prefix + key, path),
        put_text=lambda key, text: put_text(ctx, prefix + key, text),
        delete=lambda key: ctx.store.delete(ctx.media, prefix + key),
        on_playable=lambda: mark_playable(
            ctx.catalog, attempt.job_id, attempt.number, attempt.asset_id, prefix + MASTER_NAME
        ),
    )


def _publish_previews(ctx: PipelineContext, prefix: str, out: Path, previews: Previews, duration: float) -> None:
    """Thumbnails, then the sprite, then the WebVTT map that names it."""
    if not (out / STORYBOARD_IMAGE).is_file():
        raise EncodeFailed("ffmpeg wrote no storyboard sprite")
    for path in sorted((out / THUMBNAIL_DIR).glob("*.jpg")):
        put_file(ctx, f"{prefix}{THUMBNAIL_DIR}/{path.name}", path)
    put_file(ctx, prefix + STORYBOARD_IMAGE, out / STORYBOARD_IMAGE)
    put_text(ctx, prefix + STORYBOARD_VTT, render_vtt(previews.storyboard, duration))


def _measured(track: Track) -> tuple[int, int]:
    return bandwidth.measure(track.segments, bandwidth.target_duration(track.segments))


def put_file(ctx: PipelineContext, key: str, path: Path) -> None:
    size = path.stat().st_size
    stored = ctx.store.put_file(ctx.media, key, path, content_type_for(key))
    if stored.size != size:  # the store must hold what was verified, byte for byte
        raise EncodeFailed(f"{key} was stored with {stored.size} of its {size} bytes", reason="invalid_output")


def put_text(ctx: PipelineContext, key: str, text: str) -> None:
    ctx.store.put_bytes(ctx.media, key, text.encode(), content_type_for(key))
