"""A worker killed with SIGKILL mid-encode: another worker finishes the job.

Two real `python -m vodstack worker` processes share the embedded filesystem broker (or Redis when
VODSTACK_TEST_REDIS_URL is set). The worker encoding the job is killed with its whole process group
(main process, pool process and ffmpeg). kombu's filesystem transport never redelivers the consumed
message and Redis would only after its visibility timeout, so it is the surviving worker's sweeper
that requeues the job: at once, because the process that held it on this machine is gone. The
heartbeat timeout is an hour here, so that no other way can recover the job within the test (a job
of another machine waits for its heartbeat to go stale; tests/transcoder/test_sweeper.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import m3u8
import pytest

from catalog.models import Asset, AssetState, Job, JobState
from jobs.celery_app import enqueue_transcode, make_celery
from jobs.settings import BrokerSettings
from tests.media import assert_plays_whole, make_clip
from tests.transcoder.harness import (
    job_outcome,
    pipeline_context,
    published_prefix,
    published_tracks,
    submit,
    worker_env,
)
from transcoder.pipeline import PipelineContext

pytestmark = [pytest.mark.ffmpeg, pytest.mark.stack, pytest.mark.timeout(300)]

SECONDS = 30
START_TIMEOUT = 60.0
TIMEOUT = 180.0
Workers = list[tuple[subprocess.Popen[bytes], Path]]
BROKERS = ["filesystem", pytest.param("redis", marks=pytest.mark.redis)]


def broker_url(kind: str) -> str:
    if kind == "filesystem":
        return "filesystem://"
    base = os.environ["VODSTACK_TEST_REDIS_URL"].rstrip("/")
    return f"{base}/{9 + uuid.uuid4().int % 6}"  # a database of its own, away from other tests' queues


@pytest.fixture(params=BROKERS)
def ctx(request: pytest.FixtureRequest, tmp_path: Path) -> PipelineContext:
    broker = BrokerSettings(url=broker_url(request.param), folder=tmp_path / "broker")
    return pipeline_context(tmp_path, broker=broker)


@pytest.fixture
def workers(ctx: PipelineContext, tmp_path: Path) -> Iterator[Workers]:
    """Two workers, each the leader of its own process group (so the whole of one can be killed)."""
    started = []
    for name in ("worker-a", "worker-b"):
        data = tmp_path / name
        data.mkdir()
        log = data / "worker.log"
        argv = [sys.executable, "-m", "vodstack", "worker", "--name", name, "--concurrency", "1"]
        # Sweeps every second; heartbeats never go stale within the test (see the module's docstring). The
        # fixed ladder: the kill is the subject, and a content-aware job's analysis before the encode only
        # lengthens the wait for it (a second attempt reusing the recorded analysis: test_fitted_ladder.py).
        env = worker_env(
            ctx,
            data,
            heartbeat_seconds="0.5",
            heartbeat_timeout_seconds="3600",
            sweep_interval_seconds="1",
            ladder="fixed",
        )
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        started.append((proc, log))
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not all("ready." in log.read_text(errors="replace") for _, log in started):
            assert time.monotonic() < deadline and all(p.poll() is None for p, _ in started), logs_of(started)
            time.sleep(0.2)
        yield started
    finally:
        for proc, _ in started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, _ in started:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def logs_of(started: Workers) -> str:
    return "\n".join(log.read_text(errors="replace")[-3000:] for _, log in started)


def wait_for(ctx: PipelineContext, job_id: str, done: Callable[[Job, Asset], bool], started: Workers, what: str) -> Job:
    deadline = time.monotonic() + TIMEOUT
    while True:
        with ctx.catalog.session() as s:
            job = s.get(Job, job_id)
            asset = s.get(Asset, job.asset_id) if job is not None else None
            assert job is not None and asset is not None
            if done(job, asset):
                s.expunge(job)
                return job
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{logs_of(started)}"
        time.sleep(0.2)


def test_sigkill_mid_encode_hands_the_job_to_the_other_worker(
    ctx: PipelineContext, workers: Workers, tmp_path: Path
) -> None:
    source = make_clip(tmp_path / "clip.mp4", seconds=SECONDS, size="1280x720")
    asset_id, job_id = submit(ctx, source)
    enqueue_transcode(make_celery(ctx.settings.broker), job_id)

    # Mid-encode: ffmpeg has made real progress, some segments may already be published early.
    job = wait_for(
        ctx,
        job_id,
        lambda j, a: j.state == JobState.RUNNING and a.progress >= 0.2,
        workers,
        "the encode to get going",
    )
    pool_pid = int((job.worker or "").rpartition(":")[2])
    victim = next(proc for proc, _ in workers if proc.pid == os.getpgid(pool_pid))
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()

    job = wait_for(
        ctx, job_id, lambda j, a: a.state in (AssetState.READY, AssetState.FAILED), workers, "the job to finish"
    )
    asset, job = job_outcome(ctx, asset_id, job_id)
    assert job.state == JobState.SUCCEEDED and asset.state == AssetState.READY, logs_of(workers)
    assert job.attempts == 2
    survivor = next(proc for proc, _ in workers if proc is not victim)
    assert int((job.worker or "").rpartition(":")[2]) != pool_pid and survivor.poll() is None

    # No duplicate renditions, and nothing in the asset's prefix that the package does not name.
    names = [r.name for r in asset.renditions]
    assert len(names) == len(set(names)) and "audio" in names
    videos, audios = published_tracks(ctx, asset_id)
    assert {t.name for t in [*videos, *audios]} == set(names)
    # The second attempt's package, and nothing of the first attempt's (it lies under a1/).
    prefix = published_prefix(ctx, asset_id)
    assert prefix == f"{asset_id}/a2/"
    expected = {f"{prefix}{k}" for k in ("master.m3u8", "manifest.mpd", "poster.jpg", "storyboard.jpg")}
    expected |= {f"{prefix}storyboard.vtt"} | {f"{prefix}thumbnails/{i:02d}.jpg" for i in range(1, 6)}
    # The MP4 downloads of the highest and lowest rung and the M4A (transcoder.package.downloads).
    assert len(asset.downloads or []) == 3
    expected |= {str(d["key"]) for d in asset.downloads or []}
    for track in [*videos, *audios]:
        listed = m3u8.loads(ctx.store.get_bytes("media", f"{prefix}{track.name}/index.m3u8").decode())
        assert len(listed.segments) == len(track.segments) >= SECONDS / ctx.settings.segment_seconds
        expected |= {f"{prefix}{track.name}/{n}" for n in ["index.m3u8", "init.mp4"]}
        expected |= {f"{prefix}{track.name}/{s.uri}" for s in listed.segments}
        if track.init.kind == "video":
            expected.add(f"{prefix}{track.name}/iframes.m3u8")
    # The asset turns ready with the publishing update; right after it, the attempt ends the growing
    # playlists and removes the first attempt's leftovers: wait for that (bounded).
    lowest = min(videos, key=lambda t: t.init.height or 0)
    events = [f"{prefix}{track.name}/event.m3u8" for track in [lowest, *audios]]
    deadline = time.monotonic() + TIMEOUT
    while True:
        stored = {o.key for o in ctx.store.list("media", f"{asset_id}/")}
        ended = all(
            m3u8.loads(ctx.store.get_bytes("media", key).decode()).is_endlist for key in events if key in stored
        )
        if ended and all(key.startswith(prefix) for key in stored):
            break
        assert time.monotonic() < deadline, sorted(stored - expected)
        time.sleep(0.2)
    # Progressive publishing's growing playlists (lowest rung and audio), ended over the full set.
    for track in [lowest, *audios]:
        event_key = f"{prefix}{track.name}/event.m3u8"
        if event_key in stored:
            event = m3u8.loads(ctx.store.get_bytes("media", event_key).decode())
            assert event.is_endlist and len(event.segments) == len(track.segments)
            expected.add(event_key)
    assert stored == expected
    assert_plays_whole(str(ctx.settings.storage.root / "media" / prefix / "master.m3u8"), SECONDS)
