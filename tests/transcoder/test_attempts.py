"""Two attempts of one job at once: the first one stalls, its heartbeat goes stale, the sweeper
requeues the job and a second attempt runs it; then the first one wakes up.

Exactly one attempt publishes, nothing of the other remains in the media bucket, and nothing the
winner published is deleted or overwritten. The first attempt is stalled inside a storage write (a
store that holds one chosen write until released): during the encode (progressive publishing's
first segment) or at the very end (its DASH manifest, the last object before the publishing update).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest

from catalog.models import AssetState, JobState, utcnow
from storage.objects import ObjectStore
from tests.media import make_clip
from tests.transcoder.harness import job_outcome, pipeline_context, published_prefix, submit
from tests.transcoder.ladder_checks import check_published_ladder
from tests.transcoder.stalling import WAIT, StallingStore, in_thread
from transcoder.pipeline import run_job
from transcoder.worker.sweeper import SweepPolicy, sweep

pytestmark = [pytest.mark.ffmpeg, pytest.mark.timeout(300)]

SECONDS = 6
SIZE = (640, 360)


@pytest.mark.parametrize("stall_on", ["seg_00001.m4s", "manifest.mpd"], ids=["mid-encode", "before-publishing"])
def test_a_stale_attempt_that_wakes_up_publishes_nothing_and_deletes_nothing(tmp_path: Path, stall_on: str) -> None:
    ctx = pipeline_context(tmp_path, segment_seconds=1.0, heartbeat_seconds=0.1)
    asset_id, job_id = submit(ctx, make_clip(tmp_path / "clip.mp4", seconds=SECONDS, size="x".join(map(str, SIZE))))
    # The first attempt stalls at `stall_on`; the second one just before its publishing update
    # (its DASH manifest), so that the first one wakes up while the second one holds the job.
    first_store = StallingStore(ctx.store, f"{asset_id}/", stall_on)
    second_store = StallingStore(ctx.store, f"{asset_id}/", "manifest.mpd")
    first, first_errors = in_thread(run_job, replace(ctx, store=cast(ObjectStore, first_store)), job_id)
    second: threading.Thread | None = None
    try:
        assert first_store.stalled.wait(WAIT), "the first attempt never reached its stalling write"
        # Its heartbeat is stale by the sweeper's clock: the job is requeued, and a second attempt
        # (another worker) takes it.
        policy = SweepPolicy(heartbeat_timeout_seconds=60)
        assert sweep(ctx.catalog, lambda _: None, policy, now=utcnow() + timedelta(seconds=120)).requeued == [job_id]
        second, second_errors = in_thread(run_job, replace(ctx, store=cast(ObjectStore, second_store)), job_id)
        assert second_store.stalled.wait(WAIT), "the second attempt never reached its publishing"

        first_store.release.set()  # the first attempt wakes up, and ends
        first.join(WAIT)
        assert not first.is_alive() and first_errors == []
        asset, job = job_outcome(ctx, asset_id, job_id)
        assert job.state == JobState.RUNNING and job.attempts == 2, (job.state, job.error)
        assert asset.state == AssetState.PROCESSING and asset.ready_at is None
        assert not any(o.key.startswith(f"{asset_id}/a1/") for o in ctx.store.list("media", f"{asset_id}/"))
    finally:
        first_store.release.set()
        second_store.release.set()
        first.join(WAIT)
        if second is not None:
            second.join(WAIT)
    assert second is not None and not second.is_alive() and second_errors == []

    # The second attempt published, and nothing of the first attempt remains.
    asset, job = job_outcome(ctx, asset_id, job_id)
    assert job.state == JobState.SUCCEEDED and job.attempts == 2 and job.error is None
    assert asset.state == AssetState.READY and asset.master_key == f"{asset_id}/a2/master.m3u8"
    stored = list(ctx.store.list("media", f"{asset_id}/"))
    assert stored and all(o.key.startswith(f"{asset_id}/a2/") and o.size > 0 for o in stored), stored
    # Everything the package names is there, and decodes as the source did.
    assert published_prefix(ctx, asset_id) == f"{asset_id}/a2/"
    check_published_ladder(ctx, asset_id, source_seconds=SECONDS, source_size=SIZE, segment_seconds=1.0)


def test_a_finished_job_delivered_again_removes_what_stopped_attempts_left(tmp_path: Path) -> None:
    ctx = pipeline_context(tmp_path)
    asset_id, job_id = submit(ctx, make_clip(tmp_path / "clip.mp4", seconds=2, size="640x360"))
    run_job(ctx, job_id)
    package = {o.key: o.etag for o in ctx.store.list("media", f"{asset_id}/")}
    assert package and all(key.startswith(f"{asset_id}/a1/") for key in package)
    # What an attempt stopped mid-encode left, found after the publishing worker was stopped before
    # it removed it (the redelivered message of the finished job comes back to a worker).
    ctx.store.put_bytes("media", f"{asset_id}/a7/360p/seg_00001.m4s", b"left over")
    run_job(ctx, job_id)
    assert {o.key: o.etag for o in ctx.store.list("media", f"{asset_id}/")} == package
    assert job_outcome(ctx, asset_id, job_id)[1].attempts == 1
