"""The worker node's metrics endpoint: merged multiprocess samples plus what is asked at scrape time.

Runs in the Celery worker's parent process (the pool processes write, the parent serves), started
by install_worker_exporter() from `vodstack worker --metrics-port N`. Queue depth and catalog job
counts are collected here, at scrape time, because no job is running to report them when the
queue backs up or a job is stuck.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from traffic.bearer import CHALLENGE, bearer_matches
from transcoder.metrics import MULTIPROC_ENV, configure_multiprocess, elapsed_seconds, worker_metrics

log = logging.getLogger(__name__)

_LIVE_FILE = re.compile(r"gauge_live\w*?_(\d+)\.db$")


def prune_dead_processes(directory: Path, alive: Callable[[int], bool]) -> list[int]:
    """Drop the live-gauge files of processes that died without saying so (SIGKILL, OOM).

    mark_process_dead() runs only on a clean exit; without this a killed pool process would count
    as a running job forever.
    """
    dead = set()
    for name in glob.glob(os.path.join(directory, "gauge_live*.db")):
        match = _LIVE_FILE.search(os.path.basename(name))
        if match and not alive(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in dead:
        mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
    return sorted(dead)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class MergedCollector(Collector):
    """The multiprocess files of one worker node, merged, after pruning dead processes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.inner = MultiProcessCollector(None, path=str(directory))  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        prune_dead_processes(self.directory, pid_alive)
        return self.inner.collect()  # type: ignore[no-untyped-call,no-any-return]


class QueueDepthCollector(Collector):
    """Messages waiting per queue, asked of the broker at scrape time.

    A passive queue_declare answers the message count on every kombu transport we use
    (filesystem, Redis, AMQP), so there is one code path for all brokers.
    """

    def __init__(self, celery_app: Any, queues: Iterable[str]) -> None:
        self.app, self.queues = celery_app, list(queues)

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "vodstack_transcoder_queue_messages",
            "Messages waiting in the broker, by queue.",
            labels=["queue"],
        )
        ok = 1.0
        try:
            with self.app.connection_for_read() as conn:
                conn.ensure_connection(max_retries=1)
                for queue in self.queues:
                    # A channel per queue: on AMQP a failed passive declare closes its channel.
                    with conn.channel() as channel:
                        depth.add_metric([queue], float(_message_count(channel, queue)))
        except Exception as exc:  # the broker being down must not break the scrape
            log.warning("queue depth unavailable: %s", exc)
            ok = 0.0
        yield depth
        yield _up("queue", ok)


def _message_count(channel: Any, queue: str) -> int:
    try:
        return int(channel.queue_declare(queue=queue, passive=True).message_count)
    except Exception as exc:
        # A queue nobody has declared yet (NOT_FOUND) holds no messages.
        if "NOT_FOUND" in str(exc) or "404" in str(exc):
            return 0
        raise


class CatalogJobsCollector(Collector):
    """Queued, running and overdue jobs as the catalog sees them: catches jobs that no worker
    process is running any more (a stuck job is exactly one that no process counts)."""

    def __init__(self, catalog: Any, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.catalog, self.now = catalog, now

    def collect(self) -> Iterator[Metric]:
        from sqlalchemy import func, select

        from catalog.models import Job, JobState

        jobs = GaugeMetricFamily("vodstack_transcoder_catalog_jobs", "Jobs in the catalog, by state.", labels=["state"])
        overdue = GaugeMetricFamily(
            "vodstack_transcoder_overdue_jobs", "Running jobs past their deadline (stuck or lost)."
        )
        oldest = GaugeMetricFamily(
            "vodstack_transcoder_oldest_queued_job_age_seconds", "Age of the oldest queued job (0: none)."
        )
        ok = 1.0
        try:
            now = self.now()
            with self.catalog.session() as s:
                counts = dict(
                    s.execute(
                        select(Job.state, func.count())
                        .where(Job.state.in_([JobState.QUEUED, JobState.RUNNING, JobState.WAITING]))
                        .group_by(Job.state)
                    ).all()
                )
                stuck = s.scalar(select(func.count()).where(Job.state == JobState.RUNNING, Job.deadline_at < now))
                first = s.scalar(select(func.min(Job.created_at)).where(Job.state == JobState.QUEUED))
            for state in (JobState.QUEUED, JobState.RUNNING, JobState.WAITING):
                jobs.add_metric([state], float(counts.get(state, 0)))
            overdue.add_metric([], float(stuck or 0))
            oldest.add_metric([], max(0.0, elapsed_seconds(first, now)) if first else 0.0)
        except Exception as exc:  # the catalog being down must not break the scrape
            log.warning("catalog job counts unavailable: %s", exc)
            ok = 0.0
        else:
            yield jobs
            yield overdue
            yield oldest
        yield _up("catalog", ok)


class ScratchDiskCollector(Collector):
    """Free and total bytes of the file system holding the encode scratch directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def collect(self) -> Iterator[Metric]:
        try:
            usage = shutil.disk_usage(self.directory)
        except OSError:
            yield _up("scratch", 0.0)
            return
        yield GaugeMetricFamily(
            "vodstack_transcoder_scratch_free_bytes", "Free bytes where encodes write.", value=usage.free
        )
        yield GaugeMetricFamily(
            "vodstack_transcoder_scratch_size_bytes", "Size of the file system encodes write to.", value=usage.total
        )
        yield _up("scratch", 1.0)


def _up(collector: str, value: float) -> GaugeMetricFamily:
    up = GaugeMetricFamily(
        "vodstack_transcoder_collector_up", "1 when the collector last worked.", labels=["collector"]
    )
    up.add_metric([collector], value)
    return up


def exporter_registry(directory: Path, extra: Iterable[Collector] = ()) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(MergedCollector(directory))
    for collector in extra:
        registry.register(collector)
    return registry


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow scraper must not keep the worker from exiting


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Scrapes every 15 s are not worth a log line each."""


def protected(app: Any, token: str) -> Any:
    """The WSGI app `app`, answering 401 unless the request carries `token` as a bearer token."""

    def guarded(environ: dict[str, Any], start_response: Any) -> Any:
        if not bearer_matches(environ.get("HTTP_AUTHORIZATION"), token):
            start_response("401 Unauthorized", [("WWW-Authenticate", CHALLENGE), ("Content-Length", "0")])
            return [b""]
        return app(environ, start_response)

    return guarded


def start_exporter(
    port: int, registry: CollectorRegistry | None = None, *, host: str = "0.0.0.0", token: str = ""
) -> tuple[Any, threading.Thread]:
    """Serve `registry` (default: this node's merged multiprocess metrics) on host:port in a
    daemon thread; with a `token`, only to requests that carry it as a bearer token (else 401).
    Returns (server, thread); server.server_port is the bound port (port 0 works)."""
    from prometheus_client import make_wsgi_app, start_http_server

    if registry is None:
        directory = os.environ.get(MULTIPROC_ENV)
        if not directory:
            raise RuntimeError(f"{MULTIPROC_ENV} is not set: call configure_multiprocess() first")
        registry = exporter_registry(Path(directory))
    if not token:
        server, thread = start_http_server(port, addr=host, registry=registry)
        return server, thread
    httpd = make_server(
        host, port, protected(make_wsgi_app(registry), token), _ThreadingServer, handler_class=_QuietHandler
    )
    serving = threading.Thread(target=httpd.serve_forever, name="worker-metrics", daemon=True)
    serving.start()
    return httpd, serving


def install_worker_exporter(
    app: Any,
    catalog: Any,
    *,
    port: int,
    directory: Path,
    queues: Iterable[str],
    scratch_dir: Path | None = None,
    host: str = "0.0.0.0",
    token: str = "",
) -> None:
    """Wire metrics into a Celery worker node before app.worker_main() runs.

    The metrics directory is set here, in the parent, so every pool process forked later writes to
    it; the endpoint starts once the pool is up (answering only requests that carry `token`, if
    set); a pool process that exits cleanly drops its
    running-jobs gauge (killed ones are pruned at scrape time).
    """
    from celery import signals

    configure_multiprocess(directory)
    # The parent's own (zero) series keep every metric present while no pool process has run a job;
    # children forked from here reset them and write under their own pid.
    worker_metrics()
    queue_names = list(queues)

    def on_ready(**_: Any) -> None:
        extra: list[Collector] = [QueueDepthCollector(app, queue_names), CatalogJobsCollector(catalog)]
        if scratch_dir is not None:
            scratch_dir.mkdir(parents=True, exist_ok=True)
            extra.append(ScratchDiskCollector(scratch_dir))
        registry = exporter_registry(directory, extra)
        try:
            start_exporter(port, registry, host=host, token=token)
        except OSError as exc:  # a taken port must not stop the worker from encoding
            log.error("worker metrics not served on %s:%s: %s", host, port, exc)

    def on_process_shutdown(**_: Any) -> None:
        mark_process_dead(os.getpid(), str(directory))  # type: ignore[no-untyped-call]

    signals.worker_ready.connect(on_ready, weak=False)
    signals.worker_process_shutdown.connect(on_process_shutdown, weak=False)
