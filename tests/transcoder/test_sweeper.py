"""The sweeper over a real SQLite catalog: which running jobs are orphans, and requeueing them once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from catalog.models import Asset, AssetState, Job, JobState, utcnow
from catalog.session import Catalog
from tests.media import make_clip
from tests.transcoder.harness import assert_succeeded, job_outcome, pipeline_context, submit
from transcoder import metrics
from transcoder.pipeline import PipelineContext, run_job
from transcoder.worker.sweeper import Heartbeat, SweeperThread, SweepPolicy, sweep

POLICY = SweepPolicy(heartbeat_timeout_seconds=60, max_attempts=3)
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def ctx(tmp_path: Path) -> PipelineContext:
    return pipeline_context(tmp_path)


def running_job(
    catalog: Catalog,
    *,
    heartbeat_age: float | None,
    deadline_in: float = 600,
    attempts: int = 1,
    worker: str = "elsewhere:1",
    now: datetime = NOW,
) -> tuple[str, str]:
    with catalog.session() as s:
        asset = Asset(state=AssetState.PROCESSING, staging_key="originals/x.mp4")
        s.add(asset)
        s.flush()
        job = Job(
            asset_id=asset.id,
            state=JobState.RUNNING,
            attempts=attempts,
            worker=worker,
            heartbeat_at=None if heartbeat_age is None else now - timedelta(seconds=heartbeat_age),
            deadline_at=now + timedelta(seconds=deadline_in),
        )
        s.add(job)
        s.flush()
        return asset.id, job.id


def state_of(catalog: Catalog, job_id: str) -> str:
    with catalog.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job.state


def test_only_orphans_are_requeued_and_only_once(ctx: PipelineContext) -> None:
    catalog = ctx.catalog
    _, alive = running_job(catalog, heartbeat_age=5)
    _, stale = running_job(catalog, heartbeat_age=61)
    # Past its deadline with a fresh heartbeat: its attempt is alive (and stops itself at the
    # deadline); requeueing it would run two attempts at once.
    _, overdue = running_job(catalog, heartbeat_age=1, deadline_in=-1)
    _, never_beat = running_job(catalog, heartbeat_age=None)
    queued: list[str] = []

    result = sweep(catalog, queued.append, POLICY, now=NOW)

    assert sorted(result.requeued) == sorted(queued) == sorted([stale, never_beat])
    assert state_of(catalog, alive) == JobState.RUNNING and state_of(catalog, overdue) == JobState.RUNNING
    assert {state_of(catalog, j) for j in queued} == {JobState.QUEUED}
    # A second sweeper (or the next round) finds nothing left to do.
    assert sweep(catalog, queued.append, POLICY, now=NOW).requeued == []
    assert len(queued) == 2


def dead_pid() -> int:
    """The pid of a process of this machine that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_job_whose_process_on_this_machine_is_gone_is_requeued_at_once(ctx: PipelineContext) -> None:
    here = socket.gethostname()
    gone = dead_pid()
    _, crashed = running_job(ctx.catalog, heartbeat_age=1, worker=f"{here}:{gone}")  # beat a second ago
    _, alive = running_job(ctx.catalog, heartbeat_age=1, worker=f"{here}:{os.getpid()}")
    _, elsewhere = running_job(ctx.catalog, heartbeat_age=1, worker=f"not-{here}:{gone}")  # only its beat tells
    queued: list[str] = []
    assert sweep(ctx.catalog, queued.append, POLICY, now=NOW).requeued == queued == [crashed]
    assert state_of(ctx.catalog, alive) == state_of(ctx.catalog, elsewhere) == JobState.RUNNING
    assert sweep(ctx.catalog, queued.append, POLICY, now=NOW).requeued == []  # once


def test_the_sweeper_thread_sweeps_when_its_worker_starts(ctx: PipelineContext) -> None:
    # The worker the supervisor restarts after a crash: its predecessor's job runs again at once,
    # not after the first interval (an hour here).
    _, crashed = running_job(ctx.catalog, heartbeat_age=1, worker=f"{socket.gethostname()}:{dead_pid()}", now=utcnow())
    queued: list[str] = []
    sweeper = SweeperThread(lambda: ctx.catalog, queued.append, POLICY, interval=3600).start()
    try:
        for _ in range(200):
            if queued:
                break
            time.sleep(0.05)
    finally:
        sweeper.stop()
    assert queued == [crashed]


def test_job_that_keeps_losing_its_worker_fails(ctx: PipelineContext) -> None:
    asset_id, job_id = running_job(ctx.catalog, heartbeat_age=600, attempts=3)
    queued: list[str] = []
    result = sweep(ctx.catalog, queued.append, POLICY, now=NOW)
    assert result.failed == [job_id] and queued == []
    asset, job = job_outcome(ctx, asset_id, job_id)
    assert job.state == JobState.FAILED and job.error_reason == "worker_lost"
    assert asset.state == AssetState.FAILED and "lost 3 times" in (asset.error or "")


def test_failed_requeue_leaves_the_job_for_the_next_sweep(ctx: PipelineContext) -> None:
    _, job_id = running_job(ctx.catalog, heartbeat_age=600)

    def broker_down(_: str) -> None:
        raise ConnectionError("broker unreachable")

    with pytest.raises(ConnectionError):
        sweep(ctx.catalog, broker_down, POLICY, now=NOW)
    assert state_of(ctx.catalog, job_id) == JobState.RUNNING
    queued: list[str] = []
    assert sweep(ctx.catalog, queued.append, POLICY, now=NOW).requeued == [job_id]


def test_heartbeat_keeps_a_running_job_off_the_sweepers_list(ctx: PipelineContext) -> None:
    now = utcnow()
    _, job_id = running_job(ctx.catalog, heartbeat_age=100, now=now)
    beat = Heartbeat(ctx.catalog, job_id, interval=0.05, attempt=1).start()
    try:
        for _ in range(100):  # until the first beat lands
            with ctx.catalog.session() as s:
                job = s.get(Job, job_id)
                assert job is not None and job.heartbeat_at is not None
                if metrics.elapsed_seconds(job.heartbeat_at, now) < 50:
                    break
            time.sleep(0.05)
    finally:
        beat.stop()
    assert sweep(ctx.catalog, [].append, POLICY, now=utcnow()).requeued == []


@pytest.mark.ffmpeg
def test_requeued_job_runs_to_ready_and_a_live_duplicate_is_refused(ctx: PipelineContext, tmp_path: Path) -> None:
    asset_id, job_id = submit(ctx, make_clip(tmp_path / "clip.mp4", seconds=2))
    with ctx.catalog.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        # Another machine has it and its heartbeat is fresh: a duplicate delivery must not start it.
        job.state, job.worker, job.heartbeat_at = JobState.RUNNING, "other-host:4242", utcnow()
    run_job(ctx, job_id)
    assert job_outcome(ctx, asset_id, job_id)[1].attempts == 0

    with ctx.catalog.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        # On this machine, by a process that no longer exists (a pool process killed): taken over.
        job.worker = f"{socket.gethostname()}:{dead_pid()}"
    run_job(ctx, job_id)
    assert_succeeded(ctx, asset_id, job_id)


def queued_job(catalog: Catalog, *, created_age: float, dispatched_age: float | None) -> str:
    with catalog.session() as s:
        asset = Asset(state=AssetState.QUEUED, staging_key="originals/x.mp4")
        s.add(asset)
        s.flush()
        job = Job(
            asset_id=asset.id,
            state=JobState.QUEUED,
            created_at=NOW - timedelta(seconds=created_age),
            heartbeat_at=None if dispatched_age is None else NOW - timedelta(seconds=dispatched_age),
        )
        s.add(job)
        s.flush()
        return job.id


def test_stranded_queued_jobs_are_sent_again_once_per_interval(ctx: PipelineContext) -> None:
    catalog = ctx.catalog
    policy = SweepPolicy(heartbeat_timeout_seconds=60, max_attempts=3, queued_resend_seconds=600)
    fresh = queued_job(catalog, created_age=30, dispatched_age=None)
    lost = queued_job(catalog, created_age=700, dispatched_age=None)  # its message never made it
    resent_long_ago = queued_job(catalog, created_age=5000, dispatched_age=700)
    resent_lately = queued_job(catalog, created_age=5000, dispatched_age=100)
    sent: list[str] = []

    result = sweep(catalog, sent.append, policy, now=NOW)

    assert sorted(result.resent) == sorted(sent) == sorted([lost, resent_long_ago])
    assert fresh not in sent and resent_lately not in sent
    assert {state_of(catalog, j) for j in (fresh, lost, resent_long_ago, resent_lately)} == {JobState.QUEUED}
    # Dispatch is stamped: the next round (or a second sweeper) does not send them again.
    assert sweep(catalog, sent.append, policy, now=NOW + timedelta(seconds=60)).resent == []
    # A requeued orphan counts as dispatched now, not as stranded since its creation.
    _, orphan = running_job(catalog, heartbeat_age=61)
    assert sweep(catalog, sent.append, policy, now=NOW).requeued == [orphan]
    assert sweep(catalog, sent.append, policy, now=NOW + timedelta(seconds=60)).resent == []


@pytest.mark.parametrize(
    ("attempts", "deadline_in", "holds"),
    [(1, 600, True), (2, 600, False), (1, -1, False)],
    ids=["current", "superseded", "past-deadline"],
)
def test_heartbeat_of_attempt_one_holds_only_its_own_running_job_before_its_deadline(
    ctx: PipelineContext, attempts: int, deadline_in: float, holds: bool
) -> None:
    now = utcnow()
    _, job_id = running_job(ctx.catalog, heartbeat_age=100, attempts=attempts, deadline_in=deadline_in, now=now)
    beat = Heartbeat(ctx.catalog, job_id, interval=60, attempt=1)
    assert beat.beat() is holds
    assert beat.lost.is_set() is not holds
    with ctx.catalog.session() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.heartbeat_at is not None
        # A beat that does not hold vouches for nothing: the heartbeat stays as old as it was.
        assert (metrics.elapsed_seconds(job.heartbeat_at, now) < 50) is holds
