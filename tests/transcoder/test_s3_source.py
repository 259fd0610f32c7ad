"""Jobs on S3 (moto's server through the minio code path) read the original by byte ranges.

A whole job streams it into its one ffmpeg run instead of downloading it first; a split job's
chunks each read their own stretch and its whole part all of it once; the job itself only probes by
ranges (in its sandboxed child, through a presigned URL). A streamed attempt that fails is retried
with a download; a probe whose URL is refused probes a download the encode then reuses. A recording
proxy between the store and moto sees every GET of the original: who sent it (ffmpeg, the probe or
the SDK), its Range and the bytes it carried.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from catalog.models import Asset, AssetState, Job, JobState
from catalog.session import Catalog
from media.probe import PROBE_USER_AGENT
from media.probe_sandbox import probe_stored
from media.relay import RELAY
from media.settings import ProbeSettings
from storage.factory import open_store
from storage.settings import StorageSettings
from tests.media import make_clip
from tests.s3 import RecordingProxy, moto_server
from tests.transcoder.harness import ListQueue, pipeline_context, published_prefix, published_tracks, submit
from transcoder.errors import TransientError
from transcoder.pipeline import PipelineContext, run_job
from transcoder.split.splitter import SplitAndStitch

pytestmark = [pytest.mark.ffmpeg, pytest.mark.s3]

SECONDS = 20.0
SIZE = (480, 270)
CHUNK_SECONDS = 4.0  # five chunks of a fifth of the source each, and the whole part


@dataclass
class S3Jobs:
    ctx: PipelineContext
    queue: ListQueue
    proxy: RecordingProxy

    def one_probe(self, key: str) -> int:
        """Bytes one probe of the original reads (in the sandbox, through a presigned URL, by ranges)."""
        start = len(self.proxy.reads_of(key, PROBE_USER_AGENT))
        probe_stored(self.ctx.store, "staging", key, ProbeSettings())
        return sum(g.sent for g in self.proxy.reads_of(key, PROBE_USER_AGENT)[start:])


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 16 Mb/s constant bitrate (~40 MB): far more than the socket buffers a dropped read can fill,
    # so the bytes a part reads say which stretch of the file it read. A keyframe every 2 s, as
    # cameras and editors write them: a chunk's decode starts at the keyframe before its start.
    cbr = ["-g", "60", "-b:v", "16M", "-minrate", "16M", "-maxrate", "16M", "-bufsize", "4M"]
    cbr += ["-x264-params", "nal-hrd=cbr"]
    dest = tmp_path_factory.mktemp("split-s3") / "clip.mp4"
    return make_clip(dest, seconds=SECONDS, size=f"{SIZE[0]}x{SIZE[1]}", extra_video_args=cbr)


@pytest.fixture
def s3_jobs(tmp_path: Path) -> Iterator[Callable[..., S3Jobs]]:
    """Builds a pipeline on S3 behind a recording proxy, with settings overridden as asked."""
    with moto_server() as moto, RecordingProxy(moto) as proxy:

        def build(**overrides: Any) -> S3Jobs:
            base = pipeline_context(tmp_path, **overrides).settings
            storage = StorageSettings(
                backend="s3", s3_endpoint=proxy.endpoint, s3_bucket_prefix=f"t{uuid.uuid4().hex[:8]}-"
            )
            settings = base.model_copy(update={"storage": storage})
            queue = ListQueue()
            ctx = PipelineContext(settings, open_store(storage), Catalog(settings.catalog), SplitAndStitch(queue))
            return S3Jobs(ctx, queue, proxy)

        yield build


@pytest.fixture
def s3(s3_jobs: Callable[..., S3Jobs]) -> S3Jobs:
    """Split-and-stitch on: five chunks and the whole part."""
    return s3_jobs(split_enabled=True, split_min_duration_seconds=10.0, chunk_seconds=CHUNK_SECONDS)


@pytest.fixture
def s3_whole(s3_jobs: Callable[..., S3Jobs]) -> S3Jobs:
    """Split-and-stitch off: one ffmpeg run."""
    return s3_jobs()


def finish(s3: S3Jobs, asset_id: str, job_id: str) -> None:
    for job in s3.queue.take("job"):
        run_job(s3.ctx, job)
    with s3.ctx.catalog.session() as s:
        job, asset = s.get(Job, job_id), s.get(Asset, asset_id)
        assert job.state == JobState.SUCCEEDED, job.error
        assert asset.state == AssetState.READY
    videos, audios = published_tracks(s3.ctx, asset_id)
    assert len(videos) >= 2 and len(audios) == 1
    for track in [*videos, *audios]:
        assert track.end == pytest.approx(SECONDS, abs=0.1), track.name
    for video in videos:
        assert all(segment.starts_with_idr for segment in video.segments)
        assert video.starts == videos[0].starts
    for key in ["poster.jpg", "storyboard.jpg", *(f"thumbnails/{n:02d}.jpg" for n in range(1, 6))]:
        assert s3.ctx.store.stat("media", f"{published_prefix(s3.ctx, asset_id)}{key}").size > 0, key


def test_parts_read_their_own_stretch_of_the_original(s3: S3Jobs, source: Path) -> None:
    asset_id, job_id = submit(s3.ctx, source)
    key, size = f"originals/{source.name}", source.stat().st_size
    run_job(s3.ctx, job_id)  # probes by range, plans the parts, queues them
    parts = s3.queue.take("part")
    assert len(parts) == 6

    read_by_part: list[int] = []
    for part_id in parts:
        before = sum(g.sent for g in s3.proxy.reads_of(key, "ffmpeg"))
        assert s3.ctx.splitter is not None and s3.ctx.splitter.run_part(s3.ctx, part_id)
        read_by_part.append(sum(g.sent for g in s3.proxy.reads_of(key, "ffmpeg")) - before)
    finish(s3, asset_id, job_id)

    # Nothing downloaded the original: the probes read only ranges of it, as much as two probes take
    # (the job's and its join's; a probe demuxes 240 packets, 8 s here, to tell a variable frame rate).
    assert s3.proxy.reads_of(key, "sdk") == []
    probes = s3.proxy.reads_of(key, PROBE_USER_AGENT)
    assert probes and all(g.range for g in probes), probes
    assert len([g for g in probes if g.range == "bytes=0-"]) == 2, probes
    # What socket buffers held of abandoned reads varies from one probe to the next: some slack.
    assert sum(g.sent for g in probes) <= 2.5 * s3.one_probe(key)
    # ffmpeg read by ranges: each of the five chunks well under half of the original (a fifth, plus
    # the index, what finding the streams reads and what socket buffers held of abandoned reads);
    # the whole part all of it twice (loudnorm's first pass over the audio, then the encode: audio and
    # storyboard), plus a GOP or so per thumbnail and the poster.
    assert all(g.range for g in s3.proxy.reads_of(key, "ffmpeg"))
    chunks, whole = read_by_part[:5], read_by_part[5]
    assert all(0 < read < size / 2 for read in chunks), (read_by_part, size)
    assert 2 * size <= whole < 4 * size, (whole, size)
    # Downloads cost one original per chunk, five here; socket buffers bound what reads waste.
    assert sum(chunks) < 2.5 * size, (read_by_part, size)


def test_a_part_whose_streamed_read_fails_downloads_the_original_next_time(s3: S3Jobs, source: Path) -> None:
    asset_id, job_id = submit(s3.ctx, source)
    key = f"originals/{source.name}"
    run_job(s3.ctx, job_id)
    parts = s3.queue.take("part")
    s3.proxy.refuse = lambda get: get.agent == "ffmpeg"  # presigned URLs refused (clock skew, a proxy, ...)
    assert s3.ctx.splitter is not None
    for part_id in parts:
        with pytest.raises(TransientError) as raised:
            s3.ctx.splitter.run_part(s3.ctx, part_id)
        assert raised.value.reason == "source_stream"
        assert "the next attempt downloads it" in raised.value.message
        with s3.ctx.catalog.session() as s:
            assert s.get(Job, part_id).state == JobState.RUNNING  # left for the retry, not failed
        s3.ctx.splitter.run_part(s3.ctx, part_id)  # the retry: a download, which the proxy lets through
    downloads = [g for g in s3.proxy.reads_of(key, "sdk") if not g.range]
    assert len(downloads) == len(parts)
    finish(s3, asset_id, job_id)


def test_a_whole_job_streams_the_original_into_its_encode(s3_whole: S3Jobs, source: Path) -> None:
    asset_id, job_id = submit(s3_whole.ctx, source)
    key = f"originals/{source.name}"
    run_job(s3_whole.ctx, job_id)
    finish(s3_whole, asset_id, job_id)
    # No download: the probe read by ranges only what a probe reads, and ffmpeg read by ranges.
    assert s3_whole.proxy.reads_of(key, "sdk") == []
    probes = s3_whole.proxy.reads_of(key, PROBE_USER_AGENT)
    assert probes and all(g.range for g in probes), probes
    assert len([g for g in probes if g.range == "bytes=0-"]) == 1, probes
    assert sum(g.sent for g in probes) <= 1.25 * s3_whole.one_probe(key)  # slack: see above
    streamed = s3_whole.proxy.reads_of(key, "ffmpeg")
    assert streamed and all(g.range for g in streamed)
    assert sum(g.sent for g in streamed) >= source.stat().st_size  # the encode read all of it


def test_a_whole_job_whose_streamed_read_fails_is_retried_with_a_download(
    s3_whole: S3Jobs, source: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    asset_id, job_id = submit(s3_whole.ctx, source)
    key = f"originals/{source.name}"
    s3_whole.proxy.refuse = lambda get: get.agent == "ffmpeg"
    with pytest.raises(TransientError) as raised:
        run_job(s3_whole.ctx, job_id)
    assert raised.value.reason == "source_stream"
    assert "403" in raised.value.message and "X-Amz-" not in raised.value.message  # no credentials in errors
    assert "X-Amz-" not in ours(caplog)
    with s3_whole.ctx.catalog.session() as s:
        assert s.get(Job, job_id).state == JobState.RUNNING  # left for the retry, not failed
    assert list(s3_whole.ctx.store.list("media", f"{asset_id}/")) == []  # nothing half published
    run_job(s3_whole.ctx, job_id)  # the retry downloads
    assert len([g for g in s3_whole.proxy.reads_of(key, "sdk") if not g.range]) == 1
    finish(s3_whole, asset_id, job_id)


def test_a_job_whose_urls_are_all_refused_is_encoded_from_one_download(s3_whole: S3Jobs, source: Path) -> None:
    asset_id, job_id = submit(s3_whole.ctx, source)
    key = f"originals/{source.name}"
    s3_whole.proxy.refuse = lambda get: get.agent in ("ffmpeg", PROBE_USER_AGENT)
    run_job(s3_whole.ctx, job_id)  # the probe's URL refused: it probes a download, which the encode reads
    assert [g.range for g in s3_whole.proxy.reads_of(key, "sdk")] == [None]
    assert s3_whole.proxy.reads_of(key, PROBE_USER_AGENT)  # it tried its URL first
    assert s3_whole.proxy.reads_of(key, "ffmpeg") == []
    finish(s3_whole, asset_id, job_id)


def ours(caplog: pytest.LogCaptureFixture) -> str:
    """What the pipeline logged: every record but those of moto's server (werkzeug), the S3 side."""
    records = [r for r in caplog.records if not r.name.startswith("werkzeug")]
    return "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in records)


class CommandLines:
    """Collects the command lines of this process's descendants (ffmpeg, the probe's child) while they
    run, from /proc, as any local user could read them."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CommandLines:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            parents: dict[int, int] = {}
            for entry in Path("/proc").iterdir():
                try:
                    if entry.name.isdigit():
                        stat = (entry / "stat").read_text()
                        parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
                except (OSError, ValueError):
                    continue  # gone meanwhile
            for pid in parents:
                ancestor = parents.get(pid)
                while ancestor is not None and ancestor != os.getpid():
                    ancestor = parents.get(ancestor)
                if ancestor is None:
                    continue
                with contextlib.suppress(OSError):
                    self.seen.add(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())


def test_presigned_urls_are_never_on_a_command_line_nor_in_a_log(
    s3_whole: S3Jobs, source: Path, caplog: pytest.LogCaptureFixture
) -> None:
    asset_id, job_id = submit(s3_whole.ctx, source)
    caplog.set_level(logging.DEBUG)
    with CommandLines() as commands:
        run_job(s3_whole.ctx, job_id)  # the probe's child and ffmpeg read the original by its URL
    finish(s3_whole, asset_id, job_id)
    assert s3_whole.proxy.reads_of(f"originals/{source.name}", "ffmpeg")  # the encode did stream it
    ffmpeg = [c for c in commands.seen if "ffmpeg" in c and " -i " in c]
    probes = [c for c in commands.seen if "media.probe_cli" in c]
    assert ffmpeg and probes, commands.seen  # the watcher saw them run
    for line in commands.seen:
        assert "X-Amz-" not in line and s3_whole.proxy.endpoint not in line, line
    assert "X-Amz-" not in ours(caplog)
    # The relay's names answer this user's processes only while their URL is valid: nothing secret.
    assert any(f"http://127.0.0.1:{RELAY.port}/" in c for c in ffmpeg), ffmpeg
