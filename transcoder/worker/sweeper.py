"""Liveness of running jobs: heartbeats while a job runs, and the sweeper that requeues orphans.

`acks_late` + `reject_on_worker_lost` hand a job on when a pool process dies under a live worker,
but not when the whole worker (or its machine) dies: AMQP redelivers at once, Redis only after its
visibility timeout, and kombu's filesystem transport never does. So every job beats while it runs
(`Heartbeat`, a thread covering download, probe, encode and publish alike), and `sweep` requeues
jobs still marked running whose heartbeat went stale; never one whose heartbeat is fresh (its
attempt is alive: requeueing it would run two attempts at once). A job whose attempt
ran on this machine in a process that no longer exists is requeued at once, without waiting for
its heartbeat to go stale: a worker the supervisor restarts sweeps when it starts, so the job of its
crashed predecessor runs again within seconds, not minutes. The requeue is one conditional UPDATE
per job, so any number of sweepers (one per worker) requeue a job once.

Every attempt is fenced by its number (`job.attempts`, incremented when it claims the job): its
heartbeat, release, progress and publishing act only while the job is still running under that
number. An attempt that finds its heartbeat matching nothing has been superseded (requeued, taken
over, cancelled) or has run past its deadline: `Heartbeat.lost` tells it to stop its ffmpeg and end
without publishing (past its deadline, it fails the job with reason "timeout"). An attempt stuck
anywhere past its deadline stops beating all the same, and is requeued once its heartbeat is stale.

A job that keeps killing its worker (a decoder crash, memory) is failed after `max_attempts`
instead of being requeued for ever.

A queued job can be stranded too: its message lost (the ingest process died between committing
the job and publishing the message; a broker that lost its queue). `sweep` sends a queued job again
when it was last dispatched over `queued_resend_seconds` ago. For a queued job, `heartbeat_at`
records that last dispatch; a duplicate delivery is harmless, the claim is idempotent.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.exc import OperationalError

from catalog.models import Asset, AssetState, Job, JobState, utcnow
from catalog.session import Catalog, rows_updated
from webhooks import events, outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepPolicy:
    # A running job whose heartbeat is older than this is presumed orphaned (its worker died).
    heartbeat_timeout_seconds: float = 120.0
    # A job requeued this many times fails with reason "worker_lost" instead.
    max_attempts: int = 5
    # A queued job last dispatched this long ago is sent again (its message may be lost).
    queued_resend_seconds: float = 1800.0


@dataclass(frozen=True)
class SweepResult:
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)


def _orphaned(now: datetime, policy: SweepPolicy) -> ColumnElement[bool]:
    stale = now - timedelta(seconds=policy.heartbeat_timeout_seconds)
    # Not the deadline: an attempt past it stops beating (Heartbeat), so its heartbeat goes stale.
    return and_(Job.state == JobState.RUNNING, or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale))


def _stranded(now: datetime, policy: SweepPolicy) -> ColumnElement[bool]:
    before = now - timedelta(seconds=policy.queued_resend_seconds)
    return and_(
        Job.state == JobState.QUEUED,
        or_(and_(Job.heartbeat_at.is_(None), Job.created_at < before), Job.heartbeat_at < before),
    )


def sweep(
    catalog: Catalog, requeue: Callable[[str], None], policy: SweepPolicy, *, now: datetime | None = None
) -> SweepResult:
    """Requeue (or, past max_attempts, fail) every orphaned running job. `requeue` runs after commit."""
    now = now or utcnow()
    result = SweepResult()
    with catalog.session() as s:
        candidates = [
            (job_id, attempts, asset_id, _orphaned(now, policy))
            for job_id, attempts, asset_id in s.execute(
                select(Job.id, Job.attempts, Job.asset_id).where(_orphaned(now, policy))
            )
        ]
        # Running jobs whose process on this machine is gone, however fresh their last beat.
        stale = {job_id for job_id, *_ in candidates}
        prefix = f"{socket.gethostname()}:"
        for job_id, attempts, asset_id, worker in s.execute(
            select(Job.id, Job.attempts, Job.asset_id, Job.worker).where(
                Job.state == JobState.RUNNING, Job.worker.startswith(prefix, autoescape=True)
            )
        ):
            if job_id not in stale and worker is not None and not process_alive(worker):
                same_attempt = and_(Job.state == JobState.RUNNING, Job.worker == worker)
                candidates.append((job_id, attempts, asset_id, same_attempt))
    for job_id, attempts, asset_id, still_orphaned in candidates:
        with catalog.session() as s:
            give_up = attempts >= policy.max_attempts
            # heartbeat_at of a queued job: when it was last dispatched (see _stranded).
            values: dict[str, object] = {"state": JobState.QUEUED, "worker": None, "heartbeat_at": now}
            if give_up:
                values = {
                    "state": JobState.FAILED,
                    "error": f"the worker running it was lost {attempts} times",
                    "error_reason": "worker_lost",
                    "finished_at": now,
                }
            # Conditional on the job still being orphaned: a second sweeper, or the worker coming
            # back to life, makes this a no-op.
            won = rows_updated(s, update(Job).where(Job.id == job_id, still_orphaned).values(**values))
            if won and give_up:
                asset = s.get(Asset, asset_id)
                if asset is not None and asset.state not in (AssetState.READY, AssetState.DELETED):
                    asset.state, asset.error = AssetState.FAILED, str(values["error"])
                    outbox.record_asset(s, asset, events.ASSET_FAILED)
        if not won:
            continue
        if give_up:
            log.warning("job %s failed: its worker was lost %d times", job_id, attempts)
            result.failed.append(job_id)
        else:
            log.warning("job %s was orphaned (process gone or stale heartbeat): requeued", job_id)
            try:
                requeue(job_id)
            except Exception:
                # Broker down: mark it orphaned again so that the next sweep retries the requeue.
                with catalog.session() as s:
                    rows_updated(
                        s,
                        update(Job)
                        .where(Job.id == job_id, Job.state == JobState.QUEUED)
                        .values(state=JobState.RUNNING, heartbeat_at=None),
                    )
                raise
            result.requeued.append(job_id)
    _resend_stranded(catalog, requeue, policy, now, result)
    return result


def _resend_stranded(
    catalog: Catalog, requeue: Callable[[str], None], policy: SweepPolicy, now: datetime, result: SweepResult
) -> None:
    with catalog.session() as s:
        candidates = list(s.scalars(select(Job.id).where(_stranded(now, policy))))
    for job_id in candidates:
        with catalog.session() as s:
            # Conditional, like the requeue above: one sweeper resends, the others find it fresh.
            won = s.execute(
                update(Job).where(Job.id == job_id, _stranded(now, policy)).values(heartbeat_at=now),
            )
        if won:
            log.warning("job %s was queued but never started: sent again", job_id)
            requeue(job_id)
            result.resent.append(job_id)


def held_elsewhere(job: Job, heartbeat_timeout: float) -> bool:
    """True while another live process runs the job: its heartbeat is fresh, and if it ran on this
    machine its process still exists (a pool process killed under a live worker is taken over at
    once when Celery redelivers its job, without waiting for the heartbeat to go stale)."""
    if job.heartbeat_at is None:
        return False
    beat = job.heartbeat_at if job.heartbeat_at.tzinfo else job.heartbeat_at.replace(tzinfo=UTC)  # SQLite: naive
    if (utcnow() - beat).total_seconds() >= heartbeat_timeout:
        return False
    return process_alive(job.worker or "")


def process_alive(worker: str) -> bool:
    """False only when `worker` (a worker_id) names a process of this machine that no longer exists;
    True for any other machine's process, which only its heartbeat can tell about."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, under another user
    return True


def worker_id() -> str:
    """What `held_elsewhere` reads back from job.worker: host and process of the attempt."""
    return f"{socket.gethostname()}:{os.getpid()}"


def current_attempt(job_id: str, attempt: int) -> ColumnElement[bool]:
    """The fence: rows of job `job_id` still running under attempt number `attempt`."""
    return and_(Job.id == job_id, Job.attempts == attempt, Job.state == JobState.RUNNING)


def release(catalog: Catalog, job_id: str, attempt: int) -> None:
    """An attempt that ends with the job still running (a retry is coming) stops vouching for it;
    a superseded attempt touches nothing."""
    try:
        with catalog.session() as s:
            s.execute(update(Job).where(current_attempt(job_id, attempt)).values(heartbeat_at=None))
    except OperationalError:
        pass  # the catalog is down: the sweeper requeues the job once its heartbeat is stale


class Heartbeat:
    """Refreshes job.heartbeat_at every `interval` seconds while attempt `attempt` of the job runs,
    from its own thread. Sets `lost` (and stops beating) once the beat matches no row: the attempt
    was superseded, or the job's deadline passed."""

    def __init__(self, catalog: Catalog, job_id: str, interval: float, *, attempt: int) -> None:
        self.catalog, self.job_id, self.interval, self.attempt = catalog, job_id, interval, attempt
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def beat(self) -> bool:
        """One heartbeat; False (and `lost` set) when the attempt no longer holds the job."""
        now = utcnow()
        fence = and_(current_attempt(self.job_id, self.attempt), or_(Job.deadline_at.is_(None), Job.deadline_at > now))
        with self.catalog.session() as s:
            held = rows_updated(s, update(Job).where(fence).values(heartbeat_at=now)) > 0
        if not held:
            # Also the last beat of an attempt that has just finished the job: only the attempt can tell.
            log.info(
                "job %s: attempt %d no longer holds it (ended, superseded or past its deadline)",
                self.job_id,
                self.attempt,
            )
            self.lost.set()
        return held

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.beat():
                    return
            except OperationalError as exc:  # the catalog is down: the job itself will notice
                log.warning("heartbeat of job %s failed: %s", self.job_id, exc.orig)


class SweeperThread:
    """Runs `sweep` every `interval` seconds in a worker's main process (no beat process needed)."""

    def __init__(
        self,
        catalog_factory: Callable[[], Catalog],
        requeue: Callable[[str], None],
        policy: SweepPolicy,
        interval: float,
    ) -> None:
        self.catalog_factory, self.requeue, self.policy, self.interval = catalog_factory, requeue, policy, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-sweeper", daemon=True)

    def start(self) -> SweeperThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        catalog = self.catalog_factory()  # created in this thread, after the pool has forked
        # Once at start (the jobs of a crashed predecessor on this machine), then every interval.
        while True:
            try:
                sweep(catalog, self.requeue, self.policy)
            except Exception:  # the sweeper must outlive a broker or catalog outage
                log.exception("sweep failed; trying again in %.0f s", self.interval)
            if self._stop.wait(self.interval):
                return
