"""The check of a complete upload refuses, before any job is queued, originals the transcoder could not make
a stream of; odd but valid ones pass."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ingest.content import check_original
from ingest.errors import ContentRejected
from media.settings import ProbeSettings
from storage.filesystem import FilesystemObjectStore
from tests.media import make_clip

pytestmark = pytest.mark.ffmpeg


def _stored(tmp_path: Path, clip: Path) -> FilesystemObjectStore:
    store = FilesystemObjectStore(tmp_path / "objects")
    store.ensure_bucket("staging")
    store.put_file("staging", "original.mp4", clip)
    return store


def _thin(path: Path, size: str) -> Path:
    w, h = size.split("x")
    extra = ["-vf", f"scale={w}:{h},setsar=1", "-pix_fmt", "yuv444p"]
    return make_clip(path, seconds=1, size="64x64", audio=False, extra_video_args=extra)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: _thin(p, "2x1000"), "displayed at 2x1000, too thin"),
        (lambda p: make_clip(p, seconds=1, audio=False, extra_video_args=["-vf", "setsar=20/1"]), "12800x360"),
    ],
    ids=["2x1000-strip", "stretched-to-12800"],
)
def test_unencodable_pictures_are_refused_at_upload(make: Callable[[Path], Path], words: str, tmp_path: Path) -> None:
    store = _stored(tmp_path, make(tmp_path / "clip.mp4"))
    with pytest.raises(ContentRejected, match=words):
        check_original(store, "staging", "original.mp4", probe=ProbeSettings())


def test_a_tiny_picture_passes(tmp_path: Path) -> None:
    store = _stored(tmp_path, _thin(tmp_path / "clip.mp4", "3x5"))
    report = check_original(store, "staging", "original.mp4", probe=ProbeSettings())
    assert (report.width, report.height) == (3, 5)
