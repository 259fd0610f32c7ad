"""The transcode job end to end without a broker: real ffmpeg, filesystem store, SQLite catalog."""

from __future__ import annotations

import os
from pathlib import Path

import m3u8
import pytest

from catalog.models import Asset, AssetState, Job, JobState
from tests.media import assert_plays_whole, make_clip
from tests.transcoder.harness import pipeline_context, submit
from transcoder.package.fmp4 import parse_init, parse_media_segment
from transcoder.pipeline import PipelineContext, run_job

pytestmark = pytest.mark.ffmpeg


@pytest.fixture
def ctx(tmp_path: Path) -> PipelineContext:
    return pipeline_context(tmp_path)


def test_ladder_is_published_aligned_and_playable(ctx: PipelineContext, tmp_path: Path) -> None:
    source = make_clip(tmp_path / "clip.mp4", seconds=6, size="640x360")
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)

    with ctx.catalog.session() as s:
        asset = s.get(Asset, asset_id)
        job = s.get(Job, job_id)
        assert job.state == JobState.SUCCEEDED, job.error
        assert asset.state == AssetState.READY and asset.progress == 1.0
        # The first attempt's package, under its own prefix.
        assert asset.master_key == f"{asset_id}/a1/master.m3u8"
        names = sorted(r.name for r in asset.renditions)
    assert names == ["234p", "360p", "audio"]

    prefix = f"{asset_id}/a1"
    master = m3u8.loads(ctx.store.get_bytes("media", f"{prefix}/master.m3u8").decode())
    assert len(master.playlists) == 2
    boundaries = []
    for variant in master.playlists:
        media = m3u8.loads(ctx.store.get_bytes("media", f"{prefix}/{variant.uri}").decode())
        rendition = variant.uri.split("/")[0]
        init = parse_init(ctx.store.get_bytes("media", f"{prefix}/{rendition}/init.mp4"))
        starts = []
        for seg in media.segments:
            info = parse_media_segment(ctx.store.get_bytes("media", f"{prefix}/{rendition}/{seg.uri}"), init)
            assert info.starts_with_idr
            starts.append(round(info.start, 3))
        boundaries.append(starts)
    # Every rung cuts segments at the same instants: the keyframe grid is shared.
    assert all(b == boundaries[0] for b in boundaries)
    assert ctx.store.stat("media", f"{prefix}/poster.jpg").size > 0

    # ffmpeg as the player: every rendition decodes completely, as long as the source.
    assert_plays_whole(str(ctx.settings.storage.root / "media" / prefix / "master.m3u8"), 6.0)


def test_random_bytes_fail_with_reason_and_publish_nothing(ctx: PipelineContext, tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(200_000))
    asset_id, job_id = submit(ctx, junk)
    run_job(ctx, job_id)
    with ctx.catalog.session() as s:
        asset = s.get(Asset, asset_id)
        job = s.get(Job, job_id)
        assert asset.state == AssetState.FAILED and job.state == JobState.FAILED
        assert "not a recognised audio/video file" in asset.error
        assert job.error_reason == "not_media"
    assert list(ctx.store.list("media", f"{asset_id}/")) == []


def test_deleted_asset_ends_quietly(ctx: PipelineContext, tmp_path: Path) -> None:
    source = make_clip(tmp_path / "clip.mp4", seconds=2)
    asset_id, job_id = submit(ctx, source)
    with ctx.catalog.session() as s:
        s.get(Asset, asset_id).state = AssetState.DELETED
    run_job(ctx, job_id)
    with ctx.catalog.session() as s:
        assert s.get(Job, job_id).state == JobState.CANCELLED
    assert list(ctx.store.list("media", f"{asset_id}/")) == []


def test_rerun_of_finished_job_is_a_no_op(ctx: PipelineContext, tmp_path: Path) -> None:
    source = make_clip(tmp_path / "clip.mp4", seconds=2, audio=False)
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    keys = [o.key for o in ctx.store.list("media", f"{asset_id}/")]
    assert f"{asset_id}/a1/master.m3u8" in keys and not any("/audio/" in k for k in keys)
    run_job(ctx, job_id)
    assert [o.key for o in ctx.store.list("media", f"{asset_id}/")] == keys
