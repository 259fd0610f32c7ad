"""Split-and-stitch through the real pipeline, parts run in this process: real ffmpeg, filesystem store, SQLite.

The queue is a list the test drains, so the order in which parts run (and how often) is chosen
here: reversed, duplicated, after the asset is gone.
"""

from __future__ import annotations

import logging
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import select

from catalog.models import Asset, AssetState, Job, JobState, utcnow
from catalog.settings import CatalogSettings
from storage.objects import ObjectStore
from tests.media import ffmpeg_exe, integrated_loudness, make_clip
from tests.transcoder.harness import ListQueue, pipeline_context, published_prefix, published_tracks, submit
from tests.transcoder.ladder_checks import check_published_ladder
from tests.transcoder.services import postgres_catalog  # noqa: F401  (a fixture)
from tests.transcoder.stalling import WAIT, StallingStore, in_thread
from transcoder.pipeline import PipelineContext, run_job
from transcoder.split.chunks import PartSpec, part_prefix
from transcoder.split.parts import PART_KIND
from transcoder.split.splitter import SplitAndStitch
from transcoder.worker.sweeper import SweepPolicy, sweep

pytestmark = pytest.mark.ffmpeg

SECONDS = 20.0
SIZE = (480, 270)  # two rungs (234p, 270p) at a size that encodes in a blink


@pytest.fixture
def queue() -> ListQueue:
    return ListQueue()


@pytest.fixture
def ctx(tmp_path: Path, queue: ListQueue) -> PipelineContext:
    # 20 s in 6 s chunks: parts at 0, 6 and 12 s (the 2 s tail folded into the last) and the audio.
    ctx = pipeline_context(tmp_path, split_enabled=True, split_min_duration_seconds=10.0, chunk_seconds=6.0)
    return replace(ctx, splitter=SplitAndStitch(queue))


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("split") / "clip.mp4", seconds=SECONDS, size=f"{SIZE[0]}x{SIZE[1]}")


def parts_of(ctx: PipelineContext, job_id: str) -> list[Job]:
    with ctx.catalog.session() as s:
        return list(s.scalars(select(Job).where(Job.parent_id == job_id).order_by(Job.part)))


def state_of(ctx: PipelineContext, job_id: str, part_id: str) -> tuple[str, str | None]:
    part = next(p for p in parts_of(ctx, job_id) if p.id == part_id)
    return part.state, part.worker


def test_joined_ladder_is_the_one_run_ladder(ctx: PipelineContext, queue: ListQueue, source: Path) -> None:
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    parts = parts_of(ctx, job_id)
    assert [p.kind for p in parts] == [PART_KIND] * 4  # three chunks and the audio
    assert [p.params["chunk"]["start"] if p.params["chunk"] else None for p in parts] == [0, 6, 12, None]
    with ctx.catalog.session() as s:
        assert s.get(Job, job_id).state == JobState.WAITING
        assert s.get(Asset, asset_id).state == AssetState.PROCESSING
    assert sorted(queue.take("part")) == sorted(p.id for p in parts)

    # Parts finish in reverse order, one of them twice: the join is queued exactly once.
    for part_id in [*reversed([p.id for p in parts]), parts[1].id]:
        assert ctx.splitter is not None and ctx.splitter.run_part(ctx, part_id, worker=f"test-{part_id[:4]}")
    assert queue.take("job") == [job_id]
    run_job(ctx, job_id)

    with ctx.catalog.session() as s:
        job, asset = s.get(Job, job_id), s.get(Asset, asset_id)
        assert job.state == JobState.SUCCEEDED, job.error
        assert asset.state == AssetState.READY and asset.progress == 1.0
    assert all(p.state == JobState.SUCCEEDED and p.worker for p in parts_of(ctx, job_id))
    assert list(ctx.store.list("staging", "parts/")) == []  # part outputs are cleaned up
    videos, audios = check_published_ladder(
        ctx, asset_id, source_seconds=SECONDS, source_size=SIZE, segment_seconds=2.0
    )
    # The whole part normalised the audio (loudnorm's first pass over the source it reads).
    media = ctx.settings.storage.root / "media" / published_prefix(ctx, asset_id)
    assert integrated_loudness(media / "audio/index.m3u8") == pytest.approx(-16, abs=1.0)

    # The same source in one ffmpeg run: the same grid, the same samples, the same init segments.
    whole_ctx = replace(ctx, settings=ctx.settings.model_copy(update={"split_enabled": False}))
    whole_asset, whole_job = submit(whole_ctx, source)
    run_job(whole_ctx, whole_job)
    whole_videos, whole_audios = published_tracks(ctx, whole_asset)
    joined_prefix, whole_prefix = published_prefix(ctx, asset_id), published_prefix(ctx, whole_asset)
    for joined, whole in zip([*videos, *audios], [*whole_videos, *whole_audios], strict=True):
        assert joined.name == whole.name
        init_key = f"{joined.name}/init.mp4"
        assert ctx.store.get_bytes("media", f"{joined_prefix}{init_key}") == ctx.store.get_bytes(
            "media", f"{whole_prefix}{init_key}"
        )
        assert [(s.base_media_decode_time, s.sample_durations) for s in joined.segments] == [
            (s.base_media_decode_time, s.sample_durations) for s in whole.segments
        ]
    # The source's loudness is recorded on the asset as the one run records it: the same measurement.
    with ctx.catalog.session() as s:
        joined_tracks, whole_tracks = s.get(Asset, asset_id).audio_tracks, s.get(Asset, whole_asset).audio_tracks
    assert joined_tracks and [t["name"] for t in joined_tracks] == ["audio"]
    assert joined_tracks[0]["input_loudness"]["integrated"] < -16 - 3  # make_clip's tone is quieter than the target
    assert joined_tracks == whole_tracks
    # The whole-source part made the previews: the same pictures as the one run's.
    previews = [f"thumbnails/{n:02d}.jpg" for n in range(1, 6)] + ["storyboard.jpg", "storyboard.vtt"]
    for key in previews:
        assert ctx.store.get_bytes("media", f"{joined_prefix}{key}") == ctx.store.get_bytes(
            "media", f"{whole_prefix}{key}"
        )


def test_job_run_again_while_waiting_queues_only_unfinished_parts(
    ctx: PipelineContext, queue: ListQueue, source: Path
) -> None:
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    first = queue.take("part")
    assert ctx.splitter is not None
    ctx.splitter.run_part(ctx, first[0])
    # The job's message comes back (a sweeper, a redelivery): the finished part is not queued again.
    run_job(ctx, job_id)
    assert sorted(queue.take("part")) == sorted(first[1:])
    for part_id in first[1:]:
        ctx.splitter.run_part(ctx, part_id)
    for job in queue.take("job"):
        run_job(ctx, job)
    with ctx.catalog.session() as s:
        assert s.get(Asset, asset_id).state == AssetState.READY


def test_deleted_asset_cancels_parts_and_publishes_nothing(
    ctx: PipelineContext, queue: ListQueue, source: Path
) -> None:
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    with ctx.catalog.session() as s:
        s.get(Asset, asset_id).state = AssetState.DELETED
    assert ctx.splitter is not None
    for part_id in queue.take("part"):
        ctx.splitter.run_part(ctx, part_id)
    assert queue.items == []
    assert {p.state for p in parts_of(ctx, job_id)} == {JobState.CANCELLED}
    assert list(ctx.store.list("media", f"{asset_id}/")) == []


def test_a_failed_part_fails_the_job(ctx: PipelineContext, queue: ListQueue, source: Path) -> None:
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    parts = queue.take("part")
    ctx.store.put_bytes("staging", f"originals/{source.name}", b"not a video any more")
    assert ctx.splitter is not None
    for part_id in parts:
        ctx.splitter.run_part(ctx, part_id)
    assert queue.items == []
    with ctx.catalog.session() as s:
        job, asset = s.get(Job, job_id), s.get(Asset, asset_id)
        assert job.state == JobState.FAILED and asset.state == AssetState.FAILED
        assert "chunk-0000" in (job.error or "")
    assert list(ctx.store.list("media", f"{asset_id}/")) == []


def test_short_source_is_not_split(ctx: PipelineContext, queue: ListQueue, tmp_path: Path) -> None:
    asset_id, job_id = submit(ctx, make_clip(tmp_path / "short.mp4", seconds=4, size="480x270"))
    run_job(ctx, job_id)
    assert queue.items == [] and parts_of(ctx, job_id) == []
    with ctx.catalog.session() as s:
        assert s.get(Asset, asset_id).state == AssetState.READY


def test_video_stopping_before_its_audio_is_not_split(ctx: PipelineContext, queue: ListQueue, tmp_path: Path) -> None:
    # A cover image over a song: one frame, then 20 s of audio (long enough to be split otherwise).
    cover = tmp_path / "cover.mp4"
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error"]
    argv += ["-f", "lavfi", "-i", "testsrc2=size=480x270:rate=1:duration=1"]
    argv += ["-f", "lavfi", "-i", f"sine=duration={SECONDS}", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]
    subprocess.run([*argv, str(cover)], check=True)
    asset_id, job_id = submit(ctx, cover)
    run_job(ctx, job_id)
    assert queue.items == [] and parts_of(ctx, job_id) == []
    with ctx.catalog.session() as s:
        assert s.get(Asset, asset_id).state == AssetState.READY


def test_a_part_held_by_a_live_worker_is_not_run_twice(ctx: PipelineContext, queue: ListQueue, source: Path) -> None:
    _, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    part_id = queue.take("part")[0]
    with ctx.catalog.session() as s:
        part = s.get(Job, part_id)
        part.state, part.worker, part.heartbeat_at = JobState.RUNNING, "elsewhere@host", utcnow()
    assert ctx.splitter is not None
    ctx.splitter.run_part(ctx, part_id)  # a duplicate delivery: left to the live worker
    assert [(p.state, p.worker) for p in parts_of(ctx, job_id) if p.id == part_id] == [
        (JobState.RUNNING, "elsewhere@host")
    ]
    with ctx.catalog.session() as s:  # that worker dies: once its heartbeat is stale, the part is taken over
        s.get(Job, part_id).heartbeat_at = utcnow() - timedelta(seconds=ctx.settings.heartbeat_timeout_seconds + 1)
    ctx.splitter.run_part(ctx, part_id, worker="taker@host")
    assert [(p.state, p.worker) for p in parts_of(ctx, job_id) if p.id == part_id] == [
        (JobState.SUCCEEDED, "taker@host")
    ]


def finish_together(ctx: PipelineContext, queue: ListQueue, source: Path) -> tuple[str, str]:
    """Dispatch a split job, then run all its parts at once in threads: the join is queued once."""
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    splitter = ctx.splitter
    assert splitter is not None
    parts = queue.take("part")
    with ThreadPoolExecutor(len(parts)) as pool:
        list(pool.map(lambda part_id: splitter.run_part(ctx, part_id), parts))
    assert queue.take("job") == [job_id]
    run_job(ctx, job_id)
    return asset_id, job_id


def test_parts_finishing_together_queue_the_join_once(ctx: PipelineContext, queue: ListQueue, source: Path) -> None:
    asset_id, _ = finish_together(ctx, queue, source)
    with ctx.catalog.session() as s:
        assert s.get(Asset, asset_id).state == AssetState.READY


@pytest.mark.postgres
def test_on_postgres(tmp_path: Path, queue: ListQueue, source: Path, request: pytest.FixtureRequest) -> None:
    # Row locks and READ COMMITTED instead of SQLite's one writer: the parent-first lock order matters here.
    catalog: CatalogSettings = request.getfixturevalue("postgres_catalog")
    ctx = replace(pipeline_context(tmp_path, catalog=catalog), splitter=SplitAndStitch(queue))
    ctx.settings = ctx.settings.model_copy(
        update={"split_enabled": True, "split_min_duration_seconds": 10.0, "chunk_seconds": 6.0}
    )
    try:
        asset_id, _ = finish_together(ctx, queue, source)
        check_published_ladder(ctx, asset_id, source_seconds=SECONDS, source_size=SIZE, segment_seconds=2.0)
    finally:
        ctx.catalog.dispose()


@pytest.mark.parametrize("stall_on", ["seg_00001.m4s", "done.json"], ids=["mid-upload", "before-marking-done"])
def test_a_stale_attempt_at_a_part_marks_nothing_and_leaves_nothing(
    ctx: PipelineContext, queue: ListQueue, source: Path, stall_on: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Attempt 1 at a chunk pauses inside one of its uploads; the sweeper finds its heartbeat stale and
    # requeues the part, attempt 2 (another worker) encodes and marks it; then attempt 1 wakes up.
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    part_ids = queue.take("part")
    part = next(p for p in parts_of(ctx, job_id) if p.id == part_ids[0])
    first_prefix = part_prefix(job_id, PartSpec.from_json(part.params or {}).name, 1)
    first_store = StallingStore(ctx.store, first_prefix, stall_on)
    first_ctx = replace(ctx, store=cast(ObjectStore, first_store))
    assert ctx.splitter is not None and first_ctx.splitter is not None
    first, first_errors = in_thread(first_ctx.splitter.run_part, first_ctx, part.id)
    try:
        assert first_store.stalled.wait(WAIT), "attempt 1 never reached its stalling write"
        later = utcnow() + timedelta(seconds=ctx.settings.heartbeat_timeout_seconds + 60)
        assert sweep(ctx.catalog, lambda _: None, SweepPolicy(), now=later).requeued == [part.id]
        ctx.splitter.run_part(ctx, part.id, worker="second@host")
        assert state_of(ctx, job_id, part.id) == (JobState.SUCCEEDED, "second@host")
        with caplog.at_level(logging.WARNING, logger="transcoder.split.parts"):
            first_store.release.set()
            first.join(WAIT)
    finally:
        first_store.release.set()
        first.join(WAIT)
    assert not first.is_alive() and first_errors == []
    # Attempt 1 changed nothing: the row is attempt 2's, and nothing it uploaded remains.
    (row,) = [p for p in parts_of(ctx, job_id) if p.id == part.id]
    assert (row.state, row.attempts, row.worker, row.error) == (JobState.SUCCEEDED, 2, "second@host", None)
    assert list(ctx.store.list("staging", first_prefix)) == []
    assert list(ctx.store.list("staging", first_prefix.replace("/a1/", "/a2/")))
    assert any("attempt 1 was superseded" in r.getMessage() for r in caplog.records), caplog.text
    assert queue.items == []

    for part_id in part_ids[1:]:
        ctx.splitter.run_part(ctx, part_id)
    assert queue.take("job") == [job_id]
    run_job(ctx, job_id)
    with ctx.catalog.session() as s:
        assert s.get(Job, job_id).state == JobState.SUCCEEDED and s.get(Asset, asset_id).state == AssetState.READY
    assert list(ctx.store.list("staging", "parts/")) == []
    check_published_ladder(ctx, asset_id, source_seconds=SECONDS, source_size=SIZE, segment_seconds=2.0)
