"""Progressive publishing: make an asset playable while its one ffmpeg run is still encoding.

Every rung of the single run advances together, so "finish the lowest rung first" is not available;
instead a thread watches the output directory, uploads each segment as soon as ffmpeg finishes it
(ffmpeg's own EVENT playlist lists only complete segments, and `temp_file` makes them appear whole),
and once the lowest rung and every audio rendition have `min_segments` each, publishes them as EVENT media
playlists (no ENDLIST: players and the origin treat them as growing) under a partial multivariant
playlist (`render_master(complete=False)`). An audio-only asset has no rung: its audio renditions alone
gate the publish and make the partial master, whose variants are audio-only as in the final one. The
pipeline then publishes the complete VOD set over it, skipping every segment already uploaded here.

Best effort by design: a storage error stops progressive publishing (logged), never the encode; the
final publish uploads whatever is missing. `withdraw()` deletes what was published when the job
does not finish, so a failed or cancelled job leaves nothing a player can find.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType

import m3u8

from catalog.models import Asset, AssetState, Job, JobState, utcnow
from catalog.session import Catalog
from manifests import bandwidth, hls
from manifests.errors import ManifestError
from manifests.model import Segment, Track
from storage.errors import StorageError
from transcoder import metrics
from transcoder.encode.commands import INIT_NAME, PLAYLIST_NAME
from transcoder.encode.ladder import Ladder, Rung
from transcoder.errors import EncodeFailed
from transcoder.package import fmp4
from transcoder.package.outputs import describe_track, read_segment
from webhooks import events, outbox

log = logging.getLogger(__name__)

MASTER_NAME = "master.m3u8"
# The growing playlists' own name: at the end they get EXT-X-ENDLIST and stay EVENT, while the
# complete master names the VOD playlists (RFC 8216 6.2.1: a playlist's type must not change).
EVENT_PLAYLIST_NAME = "event.m3u8"
# Two segments before the first publish: with one, a player starts and stalls at once on the next.
MIN_SEGMENTS = 2
POLL_SECONDS = 0.25

PutFile = Callable[[str, Path], None]  # (key relative to the asset, local file)
PutText = Callable[[str, str], None]
Delete = Callable[[str], None]


class ProgressivePublisher:
    """Uploads finished segments of every rendition during the encode; publishes the lowest rung early.

    Use as a context manager around the encode: the thread runs inside the `with` block.
    """

    def __init__(
        self,
        out: Path,
        ladder: Ladder,
        *,
        segment_seconds: float,
        put_file: PutFile,
        put_text: PutText,
        delete: Delete,
        on_playable: Callable[[], None],
        min_segments: int = MIN_SEGMENTS,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.out = out
        self.put_file, self.put_text, self.delete = put_file, put_text, delete
        self.on_playable = on_playable
        self.min_segments = min_segments
        self.poll_seconds = poll_seconds
        # The lowest rung, published early; none for an audio-only asset.
        self.early_rungs: tuple[Rung, ...] = ladder.rungs[:1]
        # Every audio rendition is published early, as the final master lists them: a viewer who starts
        # while it encodes can pick any language or the 5.1 group. One ffmpeg run writes them all in
        # step with the video, so waiting for each costs no time.
        self.audios = list(ladder.audio_renditions())
        # The lowest rung and every audio rendition gate the first publish and are the growing playlists.
        self.gating = [r.name for r in self.early_rungs] + [a.name for a in self.audios]
        self.names = self.gating + [r.name for r in ladder.rungs[1:]]
        # Fixed for the life of the EVENT playlists (RFC 8216 6.2.1: the target must not change).
        self.target_duration = max(1, bandwidth.round_half_up(segment_seconds))
        self.uploaded: set[str] = set()  # keys relative to the asset, e.g. "360p/seg_00001.m4s"
        self.published: list[str] = []  # playlists, in publish order
        self.playable = False
        self.error: Exception | None = None
        self._inits: dict[str, fmp4.InitInfo] = {}
        self._segments: dict[str, list[Segment]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progressive-publisher", daemon=True)

    def __enter__(self) -> ProgressivePublisher:
        if self.gating:  # none for a joined split job: its parts made everything already
            self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except (StorageError, EncodeFailed, ManifestError, OSError) as exc:
                # Progressive publishing is an optimisation: the final publish still covers everything.
                log.warning("progressive publishing stopped: %s", exc)
                self.error = exc
                return

    def poll(self) -> None:
        """Upload what ffmpeg finished since the last poll; publish or extend the growing playlists."""
        grew = False
        for name in self.names:
            finished = self._finished(name)
            if not finished:
                continue
            if f"{name}/{INIT_NAME}" not in self.uploaded:
                self._upload(name, INIT_NAME)
            for uri in finished:
                if f"{name}/{uri}" in self.uploaded:
                    continue
                if name in self.gating:
                    init = self._init(name)
                    self._segments.setdefault(name, []).append(read_segment(self.out / name / uri, init))
                    grew = True
                self._upload(name, uri)
        if grew and (self.playable or self._ready()):
            self._publish_growing()

    def withdraw(self) -> None:
        """Delete the partial master, then the growing playlists, then the uploaded segments."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()
        keys = [*([MASTER_NAME] if self.playable else []), *reversed(self.published), *sorted(self.uploaded)]
        for key in keys:
            try:
                self.delete(key)
            except StorageError as exc:
                log.warning("could not withdraw %s: %s", key, exc)
        self.uploaded.clear()
        self.published.clear()
        self.playable = False

    def _ready(self) -> bool:
        return all(len(self._segments.get(name, ())) >= self.min_segments for name in self.gating)

    def _publish_growing(self) -> None:
        videos = [
            replace(
                describe_track(r.name, self._init(r.name), self._segments[r.name], rung=r),
                playlist_name=EVENT_PLAYLIST_NAME,
            )
            for r in self.early_rungs
        ]
        audios = [
            replace(
                describe_track(a.name, self._init(a.name), self._segments[a.name], rung=None, audio=a),
                playlist_name=EVENT_PLAYLIST_NAME,
            )
            for a in self.audios
        ]
        # Media playlists first, the multivariant playlist naming them last.
        for track in [*audios, *videos]:
            self.put_text(track.playlist_uri, hls.render_event(track, target_duration=self.target_duration))
            if track.playlist_uri not in self.published:
                self.published.append(track.playlist_uri)
        if not self.playable:
            master = hls.render_master(videos, audios, complete=False, target_duration=self.target_duration)
            self.put_text(MASTER_NAME, master)
            self.playable = True
            self.on_playable()

    def finish(self, tracks: Sequence[Track]) -> None:
        """End the growing playlists over the complete renditions: players that started early play
        to the end on them. Call after the complete set is published."""
        if not self.playable:
            return
        for track in tracks:
            event = replace(track, playlist_name=EVENT_PLAYLIST_NAME)
            if event.playlist_uri in self.published:
                self.put_text(
                    event.playlist_uri, hls.render_event(event, target_duration=self.target_duration, ended=True)
                )

    def _finished(self, name: str) -> list[str]:
        """Segments ffmpeg has completed, from its own EVENT playlist (rewritten after each one)."""
        path = self.out / name / PLAYLIST_NAME
        try:
            text = path.read_text()
        except FileNotFoundError:
            return []
        return [s.uri for s in m3u8.loads(text).segments]

    def _init(self, name: str) -> fmp4.InitInfo:
        if name not in self._inits:
            self._inits[name] = fmp4.parse_init((self.out / name / INIT_NAME).read_bytes())
        return self._inits[name]

    def _upload(self, name: str, file_name: str) -> None:
        key = f"{name}/{file_name}"
        self.put_file(key, self.out / name / file_name)
        self.uploaded.add(key)


def mark_playable(catalog: Catalog, job_id: str, attempt: int, asset_id: str, master_key: str) -> None:
    """Record that the partial master is out: the asset plays (lowest rung, or the audio renditions of an
    audio-only asset) while the rest encodes.
    Only while attempt number `attempt` still runs the job (a superseded one points nothing at its objects)."""
    with catalog.session() as s:
        asset, job = s.get(Asset, asset_id), s.get(Job, job_id, with_for_update=True)
        if job is None or job.attempts != attempt or job.state != JobState.RUNNING:
            return
        if asset is None or asset.state != AssetState.PROCESSING:
            return
        asset.master_key = master_key
        if asset.first_playable_at is None:
            asset.first_playable_at = utcnow()
            outbox.record_asset(s, asset, events.ASSET_PLAYABLE)
            if job is not None:
                metrics.record_first_playable(metrics.elapsed_seconds(job.created_at, asset.first_playable_at))


def forget_playable(catalog: Catalog, asset_id: str, master_key: str) -> None:
    """Undo `mark_playable` after a withdrawal (the asset was not made ready), unless the asset
    points at another attempt's master by now."""
    with catalog.session() as s:
        asset = s.get(Asset, asset_id)
        if asset is not None and asset.state != AssetState.READY and asset.master_key == master_key:
            asset.master_key, asset.first_playable_at = None, None
