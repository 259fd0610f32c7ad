"""Split-and-stitch over real processes: two `vodstack worker`s on the embedded filesystem broker,
and (when configured) on Redis with the catalog in PostgreSQL, as workers on several machines would be.

A 60 s source is cut into six 10 s chunks plus the audio; both workers must encode some of them,
and the joined ladder must pass the checks every ladder passes.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from catalog.models import Asset, AssetState, Job, JobState
from jobs.celery_app import enqueue_transcode, make_celery
from jobs.settings import BrokerSettings
from tests.media import make_clip
from tests.transcoder.harness import pipeline_context, submit, worker_env
from tests.transcoder.ladder_checks import check_published_ladder
from tests.transcoder.services import postgres_catalog, redis_broker_url  # noqa: F401  (fixtures)
from transcoder.pipeline import PipelineContext
from transcoder.split.parts import PART_KIND

pytestmark = [pytest.mark.ffmpeg, pytest.mark.stack, pytest.mark.timeout(300)]

SECONDS = 60.0
SIZE = (480, 270)
WORKERS = ("worker-1", "worker-2")
START_TIMEOUT = 60.0
READY_TIMEOUT = 180.0


def split_worker_env(ctx: PipelineContext, data: Path) -> dict[str, str]:
    """`worker_env` with split-and-stitch on, for 10 s chunks of anything over 30 s, and the fixed ladder:
    the content-aware one gives this plain 270p pattern a single rung (the joined job succeeded with it),
    and the joined ladder's check is of rungs aligned with each other."""
    return worker_env(
        ctx, data, split_enabled="true", split_min_duration_seconds="30", chunk_seconds="10", ladder="fixed"
    )


@pytest.fixture(
    params=[
        "embedded",  # filesystem broker, SQLite catalog, filesystem store
        pytest.param("redis+postgres", marks=[pytest.mark.redis, pytest.mark.postgres]),
    ]
)
def ctx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PipelineContext]:
    if request.param == "embedded":
        yield pipeline_context(tmp_path)
        return
    catalog = request.getfixturevalue("postgres_catalog")
    broker = BrokerSettings(url=request.getfixturevalue("redis_broker_url"), folder=tmp_path / "broker")
    ctx = pipeline_context(tmp_path, catalog=catalog, broker=broker)
    yield ctx
    ctx.catalog.dispose()  # before the database is dropped


@pytest.fixture
def workers(ctx: PipelineContext, tmp_path: Path) -> Iterator[list[Path]]:
    """Two worker processes, each with its own data dir (as on two machines), ready to take tasks."""
    procs, logs = [], []
    for name in WORKERS:
        data = tmp_path / name
        data.mkdir()
        log = data / "worker.log"
        with log.open("wb") as out:
            argv = [sys.executable, "-m", "vodstack", "worker", "--name", name, "--concurrency", "1"]
            procs.append(subprocess.Popen(argv, env=split_worker_env(ctx, data), stdout=out, stderr=subprocess.STDOUT))
        logs.append(log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not all("ready." in log.read_text(errors="replace") for log in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise AssertionError("workers did not start:\n" + "\n".join(log.read_text()[-2000:] for log in logs))
            time.sleep(0.2)
        yield logs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_two_workers_encode_the_chunks_and_the_joined_ladder_passes(
    ctx: PipelineContext, workers: list[Path], tmp_path: Path
) -> None:
    source = make_clip(tmp_path / "long.mp4", seconds=SECONDS, size=f"{SIZE[0]}x{SIZE[1]}")
    asset_id, job_id = submit(ctx, source)
    enqueue_transcode(make_celery(ctx.settings.broker), job_id)

    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        with ctx.catalog.session() as s:
            asset = s.get(Asset, asset_id)
            assert asset is not None
            state, error = asset.state, asset.error
        if state in (AssetState.READY, AssetState.FAILED):
            break
        if time.monotonic() > deadline:
            logs = "\n".join(log.read_text()[-3000:] for log in workers)
            raise AssertionError(f"asset still {state} after {READY_TIMEOUT} s\n{logs}")
        time.sleep(0.3)
    assert state == AssetState.READY, error

    with ctx.catalog.session() as s:
        parts = list(s.scalars(select(Job).where(Job.parent_id == job_id).order_by(Job.part)))
        job = s.get(Job, job_id)
        assert job is not None and job.state == JobState.SUCCEEDED
    assert len(parts) == 7 and {p.kind for p in parts} == {PART_KIND}  # six chunks and the audio
    assert {p.state for p in parts} == {JobState.SUCCEEDED}
    # Both workers took parts (the Celery node name, "worker-1@host", is recorded per part).
    assert {(p.worker or "").split("@")[0] for p in parts} == set(WORKERS), [p.worker for p in parts]

    check_published_ladder(ctx, asset_id, source_seconds=SECONDS, source_size=SIZE, segment_seconds=2.0)
