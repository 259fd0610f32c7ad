"""Images on demand of an asset published with AV1 rungs beside the H.264 ones (VODSTACK_TRANSCODER_AV1 on):
thumbnails and an animated preview are made from the H.264 rung of the size (images.plan.video_rungs), and
are the source's frames at their times.

Before that choice they were made from the AV1 rungs (listed first at each size), decoded frame-exact by the
bundled ffmpeg's dav1d: 40.8 / 39.6 / 35.7 dB at the three times below, against 38.2 / 37.8 / 35.2 dB from the
H.264 rungs (x264 ultrafast here)."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import av
import pytest

from catalog.models import AssetState
from images.params import Animated, Thumbnail
from images.render import Renderer
from images.settings import ImageSettings
from storage.filesystem import FilesystemObjectStore
from tests.images.test_thumbnails import ANIMATED_FLOOR, FLOOR, assert_frame_at
from tests.media import ffmpeg_exe, make_clip
from tests.transcoder.harness import assert_succeeded, pipeline_context, published_prefix, submit
from transcoder.pipeline import run_job

pytestmark = pytest.mark.ffmpeg

# 25 fps, as tests.images.conftest's source: test_thumbnails' PSNR floors tell a frame from its neighbours.
SECONDS, FPS = 4.0, 25


class RecordingStore(FilesystemObjectStore):
    """The published objects, recording which segments an image read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.read: list[str] = []

    def read_range(self, bucket: str, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        self.read.append(key)
        return super().read_range(bucket, key, start, end)


@dataclass(frozen=True)
class Published:
    source: Path
    asset_id: str
    renderer: Renderer
    store: RecordingStore


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Published:
    root = tmp_path_factory.mktemp("av1-images")
    ctx = pipeline_context(root, av1=True, av1_preset=13)
    source = make_clip(root / "source.mp4", seconds=SECONDS, size="640x360", rate=str(FPS))
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    assert_succeeded(ctx, asset_id, job_id)
    master_key = published_prefix(ctx, asset_id) + "master.m3u8"
    ctx.catalog.dispose()
    store = RecordingStore(root / "objects")
    renderer = Renderer(store, "media", lambda _: (AssetState.READY, master_key), ImageSettings())
    return Published(source, asset_id, renderer, store)


def _rungs_read(store: RecordingStore) -> set[str]:
    rungs = {key.split("/")[-2] for key in store.read}
    store.read.clear()
    return rungs


@pytest.mark.parametrize(("time", "width", "rung"), [(0.0, 320, "234p"), (1.98, 320, "234p"), (2.5, 640, "360p")])
def test_thumbnails_come_from_the_h264_rung_and_are_the_frames_at_their_times(
    published: Published, tmp_path: Path, time: float, width: int, rung: str
) -> None:
    data = published.renderer.make(published.asset_id, Thumbnail("jpg", Decimal(str(time)), width))
    assert _rungs_read(published.store) == {rung}
    image = tmp_path / "thumbnail.jpg"
    image.write_bytes(data)
    with av.open(io.BytesIO(data)) as decoded:
        frame = next(decoded.decode(video=0))
        assert (frame.width, frame.height) == (width, width * 9 // 16)
    assert_frame_at(image, published.source, time, width=width, floor=FLOOR, seconds=SECONDS, tmp_path=tmp_path,
                    what=f"thumbnail at {time} s")  # fmt: skip


def test_animated_preview_comes_from_the_h264_rung(published: Published, tmp_path: Path) -> None:
    start, end, fps, width = 1.0, 2.0, 5, 320
    data = published.renderer.make(published.asset_id, Animated(Decimal(start), Decimal(end), fps, width))
    assert _rungs_read(published.store) == {"234p"}
    (tmp_path / "animated.webp").write_bytes(data)
    still = tmp_path / "frames"
    still.mkdir()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "animated.webp"), "-map", "0",
                    str(still / "%03d.png")], check=True)  # fmt: skip
    frames = sorted(still.glob("*.png"))
    assert len(frames) == 5
    for k, image in enumerate(frames):
        # Frame k is the last source frame before start + (k + 1/2)/fps (images.plan).
        shown = (int((start + (k + 0.5) / fps) * FPS - 1e-6)) / FPS
        assert_frame_at(image, published.source, shown, width=width, floor=ANIMATED_FLOOR, seconds=SECONDS,
                        tmp_path=tmp_path, what=f"frame {k}")  # fmt: skip
