"""MP4 downloads: planned from the ladder, remuxed from the published segments, decoded whole by ffmpeg."""

from __future__ import annotations

from pathlib import Path

import pytest

from manifests.model import Segment, Track
from tests.media import make_clip, play_every_stream
from tests.transcoder.harness import assert_succeeded, pipeline_context, published_tracks, submit
from transcoder.package.downloads import plan_downloads, safe_basename, top_level_boxes
from transcoder.pipeline import PipelineContext, run_job


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Holiday in Kraków.MOV", "Holiday-in-Krakow"),
        ("../../etc/passwd", "etc-passwd"),
        ('a"b\r\nContent-Type: x', "a-b-Content-Type-x"),
        ("...", "asset1"),
        (None, "asset1"),
        ("日本語", "asset1"),
        ("x" * 300, "x" * 60),
        ("  .hidden  ", "hidden"),
    ],
)
def test_safe_basename(title: str | None, expected: str) -> None:
    assert safe_basename(title, "asset1") == expected


def _track(name: str, kind: str, height: int | None = None) -> Track:
    return Track(name, kind, "avc1", "init.mp4", (Segment("s.m4s", 2.0, 10, 0.0),), 90000, height=height)


def test_plan_takes_highest_and_lowest_rung_and_the_audio() -> None:
    videos = [_track("360p", "video", 360), _track("720p", "video", 720), _track("234p", "video", 234)]
    plans = plan_downloads(videos, [_track("audio", "audio")], "clip")
    assert [(p.filename, p.video, p.audio) for p in plans] == [
        ("clip-720p.mp4", "720p", "audio"),
        ("clip-234p.mp4", "234p", "audio"),
        ("clip-audio.m4a", None, "audio"),
    ]


def test_plan_of_two_rungs_of_one_size_is_one_file_of_the_better() -> None:
    low, high = _track("180p-200k", "video", 180), _track("180p-400k", "video", 180)
    high = Track(high.name, "video", "avc1", "init.mp4", (Segment("s.m4s", 2.0, 20, 0.0),), 90000, height=180)
    plans = plan_downloads([high, low], [], "clip")
    assert [(p.filename, p.video) for p in plans] == [("clip-180p.mp4", "180p-400k")]


def test_plan_of_one_rung_without_audio() -> None:
    plans = plan_downloads([_track("180p", "video", 180)], [], "clip")
    assert [(p.filename, p.video, p.audio) for p in plans] == [("clip-180p.mp4", "180p", None)]


@pytest.mark.ffmpeg
def test_downloads_decode_whole_and_match_their_segments(tmp_path: Path) -> None:
    ctx = pipeline_context(tmp_path)
    source = make_clip(tmp_path / "My Clip.mp4", seconds=3, size="640x360")
    asset_id, job_id = submit(ctx, source)
    with ctx.catalog.session() as s:
        from catalog.models import Asset

        asset = s.get(Asset, asset_id)
        assert asset is not None
        asset.title = "My Clip.mp4"
    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)
    videos, audios = published_tracks(ctx, asset_id)
    assert asset.downloads is not None
    by_name = {d["name"]: d for d in asset.downloads}
    heights = sorted(t.init.height or 0 for t in videos)
    assert sorted(by_name) == sorted({f"My-Clip-{heights[-1]}p.mp4", f"My-Clip-{heights[0]}p.mp4", "My-Clip-audio.m4a"})
    media = ctx.settings.storage.root / "media"
    prefix = f"{asset_id}/a1/"
    for name, entry in by_name.items():
        assert entry["key"] == f"{prefix}downloads/{name}"
        path = media / entry["key"]
        assert entry["size"] == path.stat().st_size
        boxes = top_level_boxes(path)
        assert boxes.index("moov") < boxes.index("mdat") and "moof" not in boxes, boxes  # faststart, unfragmented
        # Made of the published bytes: within 2% of the init + segments of the renditions it holds.
        parts = [entry["height"] and f"{entry['height']}p", "audio"] if entry["kind"] == "video" else ["audio"]
        made_from = sum(
            f.stat().st_size
            for part in parts
            if part
            for f in (media / prefix / part).iterdir()
            if f.suffix in (".mp4", ".m4s")
        )
        assert abs(path.stat().st_size - made_from) <= 0.02 * made_from, (name, path.stat().st_size, made_from)
        # ffmpeg as the player: every stream decodes to the end, as long as the stream (within 2 frames).
        played = play_every_stream(str(path))
        kinds = sorted(p.kind for p in played)
        assert kinds == (["audio", "video"] if entry["kind"] == "video" else ["audio"]), (name, played)
        for stream in played:
            assert stream.lasts(3.0, 2 / 30), (name, stream)
        assert abs(entry["duration"] - 3.0) <= 2 / 30


@pytest.mark.ffmpeg
@pytest.mark.parametrize("where", ["setting", "asset"])
def test_downloads_can_be_turned_off(tmp_path: Path, where: str) -> None:
    ctx: PipelineContext = pipeline_context(tmp_path, mp4_downloads=where == "asset")
    source = make_clip(tmp_path / "clip.mp4", seconds=2, size="320x180", audio=False)
    asset_id, job_id = submit(ctx, source)
    if where == "asset":
        from catalog.models import Asset

        with ctx.catalog.session() as s:
            row = s.get(Asset, asset_id)
            assert row is not None
            row.mp4_downloads = False
    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)
    assert asset.downloads == []
    assert not list(ctx.store.list("media", f"{asset_id}/a1/downloads/"))


@pytest.mark.ffmpeg
def test_a_silent_video_gets_its_mp4_and_no_m4a(tmp_path: Path) -> None:
    ctx = pipeline_context(tmp_path)
    source = make_clip(tmp_path / "clip.mp4", seconds=2, size="320x180", audio=False)
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)
    assert [(d["name"], d["kind"]) for d in asset.downloads or []] == [(f"{asset_id}-180p.mp4", "video")]
    played = play_every_stream(str(ctx.settings.storage.root / "media" / (asset.downloads or [])[0]["key"]))
    assert [p.kind for p in played] == ["video"] and played[0].lasts(2.0, 2 / 30)
