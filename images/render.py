"""Making one image: the only module here that does I/O. It reads the published master, the chosen
rung's media playlist, its init segment and the covering segments from the object store (through the
origin's store: with tiering on, an archived object raises ObjectArchived, 503 + Retry-After, and is
never read cold), concatenates them in a private temporary folder and runs ffmpeg in the sandbox
(media.sandbox: own process group, watchdog, CPU and memory limits, scrubbed environment).

Blocking: call `make` from a thread; `Gate` is taken on the event loop before.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from images import plan
from images.errors import Busy, NotReady, RenderFailed
from images.params import ImageRequest
from images.published import Lookup, published_prefix
from images.settings import ImageSettings
from media.sandbox import Limits, failure, run
from storage.errors import InvalidKey, ObjectMissing
from storage.objects import ObjectStore, check_key

log = logging.getLogger(__name__)


class Gate:
    """At most `limit` images in the making; one more is refused at once (Busy), never queued: a
    queue would only hold connections open while a burst of distinct parameters costs ffmpeg runs."""

    def __init__(self, limit: int, retry_after: int) -> None:
        self.limit = limit
        self.retry_after = retry_after
        self.busy = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            if self.busy >= self.limit:
                raise Busy(f"{self.limit} images are being made on this origin; retry shortly", self.retry_after)
            self.busy += 1

    def leave(self) -> None:
        with self._lock:
            self.busy -= 1


@dataclass
class Renderer:
    store: ObjectStore
    bucket: str
    lookup: Lookup
    settings: ImageSettings

    def make(self, asset_id: str, request: ImageRequest) -> bytes:
        """The image's bytes. Raises UnknownAsset, NotReady, BadParameter (bounds that depend on the
        asset: width, time), RenderFailed, and the store's errors (ObjectArchived: 503)."""
        prefix = published_prefix(self.lookup, asset_id)
        rungs = plan.video_rungs(self._text(prefix + "master.m3u8"))
        width = plan.output_width(request, rungs)
        rung = plan.choose_rung(rungs, width)
        playlist_key = prefix + rung.playlist_uri
        rung_dir = playlist_key.rpartition("/")[0] + "/"
        media = plan.parse_media(self._text(playlist_key))
        win = plan.window(request, media, rung.frame)
        keys = [rung_dir + media.init_uri, *(rung_dir + s.uri for s in win.segments)]
        with tempfile.TemporaryDirectory(prefix="vodstack-image-") as work:
            source = Path(work) / "input.mp4"
            with source.open("wb") as sink:
                for key in keys:
                    self._copy(key, sink)
            out = Path(work) / "out"
            argv = plan.argv(self.settings.ffmpeg_path(), str(source), str(out), request, win, width)
            limits = Limits(
                wall_seconds=self.settings.wall_seconds,
                cpu_seconds=self.settings.cpu_seconds,
                memory_bytes=self.settings.memory_mb * 2**20,
            )
            outcome, _, stderr = run(argv, limits, cwd=work, max_output=64 * 1024)
            tail = stderr.decode("utf-8", errors="replace").splitlines()[-5:]
            why = failure(outcome, tail)
            if why is not None or not out.is_file() or out.stat().st_size == 0:
                log.warning("image of %s (%s) failed: %s %s", asset_id, request, why or "no output", tail)
                reason = f"the image could not be made: ffmpeg {why or 'made no picture'}"
                raise RenderFailed(reason, self.settings.retry_after)
            if out.stat().st_size > self.settings.max_bytes:
                raise RenderFailed("the image is larger than this origin makes", self.settings.retry_after)
            return out.read_bytes()

    def _text(self, key: str) -> str:
        try:
            return self.store.get_bytes(self.bucket, check_key(key)).decode("utf-8", errors="replace")
        except (ObjectMissing, InvalidKey):
            raise NotReady("the published playlist is missing") from None

    def _copy(self, key: str, sink: BinaryIO) -> None:
        try:
            chunks = self.store.read_range(self.bucket, check_key(key))
            try:
                for chunk in chunks:
                    sink.write(chunk)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        except (ObjectMissing, InvalidKey):
            raise NotReady("a published segment is missing") from None
