"""Prometheus metrics of the transcoder workers, correct with Celery's prefork pool.

A Celery worker node is one parent process and N forked pool processes; jobs run in the children,
so an in-process registry would show only whichever child answered. prometheus-client's
multiprocess mode makes every process write its samples to mmap files in one directory per worker
node (PROMETHEUS_MULTIPROC_DIR, e.g. <data dir>/metrics/<worker name>); the parent serves the merged
view on its own port. Why not an exporter fed by Celery events: events need gossip/heartbeat
traffic on the broker (the worker runs --without-gossip) and a separate long-running process to
consume them, and they cannot see media seconds, failure reasons or time to first playable.

Metric names (no per-job, per-asset or per-URL labels):
    vodstack_transcoder_jobs_started_total{kind}
    vodstack_transcoder_jobs_finished_total{kind,outcome}   outcome: succeeded|failed|cancelled|retried|waiting
                                                            |superseded (another attempt has the job)
    vodstack_transcoder_jobs_running{kind}                  live processes only (livesum)
    vodstack_transcoder_job_duration_seconds{kind,outcome}  histogram
    vodstack_transcoder_encoded_media_seconds_total{kind}   media seconds of succeeded jobs
    vodstack_transcoder_encode_speed_ratio{kind}            histogram of media s / wall s per job
    vodstack_transcoder_failures_total{kind,reason}
    vodstack_transcoder_time_to_first_playable_seconds     histogram, job queued -> first playable
  collected by transcoder/worker/exporter.py at scrape time (same value on every worker node: aggregate with max):
    vodstack_transcoder_queue_messages{queue}               messages waiting in the broker
    vodstack_transcoder_catalog_jobs{state}                 queued/running/waiting jobs in the catalog
    vodstack_transcoder_overdue_jobs                        running jobs past their deadline
    vodstack_transcoder_oldest_queued_job_age_seconds
    vodstack_transcoder_scratch_free_bytes, vodstack_transcoder_scratch_size_bytes
    vodstack_transcoder_collector_up{collector}             1 when the last collection worked
"""

from __future__ import annotations

import os
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
JOB_KINDS = ("transcode", "transcode_part")
# waiting: a split job handed to its parts (it is queued again to join them).
OUTCOMES = ("succeeded", "failed", "cancelled", "retried", "waiting", "superseded")
# Failure reasons present (at 0) from the start, so "failures by reason" has series before the
# first failure; other reasons appear when they first happen.
FAILURE_REASONS = (
    "invalid_media",
    "encode_failed",
    "invalid_output",
    "original_missing",
    "storage",
    "internal",
    "timeout",
    "retries_exhausted",
)
DURATION_BUCKETS = (1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
SPEED_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20, 40)
FIRST_PLAYABLE_BUCKETS = (1, 2.5, 5, 10, 15, 20, 30, 45, 60, 120, 300, 600, 1800, 3600)


class WorkerMetrics:
    """The metric objects one process writes to. Create only after configure_multiprocess()."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry
        self.started = Counter(
            "vodstack_transcoder_jobs_started", "Jobs a worker began, by kind.", ["kind"], registry=r
        )
        self.finished = Counter(
            "vodstack_transcoder_jobs_finished",
            "Jobs that left a worker, by kind and outcome"
            " (succeeded, failed, cancelled, retried, waiting, superseded).",
            ["kind", "outcome"],
            registry=r,
        )
        self.running = Gauge(
            "vodstack_transcoder_jobs_running",
            "Jobs running now, by kind.",
            ["kind"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.duration = Histogram(
            "vodstack_transcoder_job_duration_seconds",
            "Wall time of one job attempt, by kind and outcome.",
            ["kind", "outcome"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.media_seconds = Counter(
            "vodstack_transcoder_encoded_media_seconds",
            "Media duration of the sources of succeeded jobs.",
            ["kind"],
            registry=r,
        )
        self.speed = Histogram(
            "vodstack_transcoder_encode_speed_ratio",
            "Media seconds per wall second of each succeeded job (1 = real time).",
            ["kind"],
            buckets=SPEED_BUCKETS,
            registry=r,
        )
        self.failures = Counter(
            "vodstack_transcoder_failures",
            "Failed jobs by kind and reason (invalid_media, encode, storage, retries_exhausted, ...).",
            ["kind", "reason"],
            registry=r,
        )
        self.first_playable = Histogram(
            "vodstack_transcoder_time_to_first_playable_seconds",
            "Time from the job being queued (upload complete) to the asset first being playable.",
            buckets=FIRST_PLAYABLE_BUCKETS,
            registry=r,
        )
        self.ladder_analysis = Histogram(
            "vodstack_transcoder_ladder_analysis_seconds",
            "Time spent measuring a source's samples for its content-aware ladder.",
            buckets=(1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640),
            registry=r,
        )
        self.ladder_rungs = Histogram(
            "vodstack_transcoder_ladder_rungs",
            "Rungs of each content-aware ladder (simple content gets fewer).",
            buckets=(1, 2, 3, 4, 5, 6, 7, 8, 9),
            registry=r,
        )
        # Zero-initialised series: rate() and ratios work before the first event of each kind.
        for kind in JOB_KINDS:
            self.started.labels(kind)
            self.running.labels(kind)
            self.media_seconds.labels(kind)
            for outcome in OUTCOMES:
                self.finished.labels(kind, outcome)
            for reason in FAILURE_REASONS:
                self.failures.labels(kind, reason)


_metrics: WorkerMetrics | None = None
_lock = threading.Lock()


def configure_multiprocess(directory: Path, *, wipe: bool = True) -> Path:
    """Point this process (and every process forked from it) at `directory` for metric files.

    Call in the worker's parent process before the pool forks. `wipe` removes the files of a
    previous run of the same worker node, whose counters would otherwise be added to ours.
    """
    if wipe:
        shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    # prometheus-client picks its value class when first imported; pick again now that the
    # directory is known, so metrics created from here on write to the shared files.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return directory


def worker_metrics() -> WorkerMetrics:
    """This process's metrics, created on first use (in the pool process, after the fork)."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = WorkerMetrics()
        return _metrics


def record_job_started(kind: str) -> None:
    m = worker_metrics()
    m.started.labels(kind).inc()
    m.running.labels(kind).inc()


def record_job_finished(
    kind: str, outcome: str, reason: str | None, seconds: float, media_seconds: float | None
) -> None:
    """One job attempt ended. `reason` is the failure code (failed only); `media_seconds` the source
    duration, counted for succeeded jobs only (a failed job encoded nothing usable)."""
    m = worker_metrics()
    m.running.labels(kind).dec()
    m.finished.labels(kind, outcome).inc()
    m.duration.labels(kind, outcome).observe(max(0.0, seconds))
    if outcome == "failed":
        m.failures.labels(kind, reason or "unknown").inc()
    if outcome == "succeeded" and media_seconds and seconds > 0:
        m.media_seconds.labels(kind).inc(media_seconds)
        m.speed.labels(kind).observe(media_seconds / seconds)


def record_failure(kind: str, reason: str) -> None:
    """A failure decided outside an attempt (retries exhausted): counted, no duration."""
    worker_metrics().failures.labels(kind, reason).inc()


def record_first_playable(seconds: float) -> None:
    worker_metrics().first_playable.observe(max(0.0, seconds))


def record_ladder_analysis(seconds: float, rungs: int) -> None:
    m = worker_metrics()
    m.ladder_analysis.observe(max(0.0, seconds))
    m.ladder_rungs.observe(rungs)


def elapsed_seconds(start: datetime, end: datetime) -> float:
    """Seconds from start to end; naive datetimes (SQLite hands them back) are taken as UTC."""
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return (end - start).total_seconds()
