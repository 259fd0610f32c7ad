"""Split-and-stitch on S3 (moto's server through the minio code path): parts read the original by
byte ranges instead of downloading it, and fall back to a download when streamed reads fail.

A recording proxy between the store and moto sees every GET of the original: who sent it (ffmpeg
or the SDK), its Range and the bytes it carried.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import pytest

from catalog.models import Asset, AssetState, Job, JobState
from catalog.session import Catalog
from storage.factory import open_store
from storage.reader import ObjectReader
from storage.settings import StorageSettings
from tests.media import make_clip
from tests.s3 import RecordingProxy, moto_server
from tests.transcoder.harness import pipeline_context, published_tracks, submit
from tests.transcoder.test_split import ListQueue
from transcoder.errors import TransientError
from transcoder.pipeline import PipelineContext, run_job
from transcoder.probe import probe_source
from transcoder.split import SplitAndStitch

pytestmark = [pytest.mark.ffmpeg, pytest.mark.s3]

SECONDS = 20.0
SIZE = (480, 270)
CHUNK_SECONDS = 4.0  # five chunks of a fifth of the source each, and the whole part


@dataclass
class S3Split:
    ctx: PipelineContext
    queue: ListQueue
    proxy: RecordingProxy


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
def s3(tmp_path: Path) -> Iterator[S3Split]:
    with moto_server() as moto, RecordingProxy(moto) as proxy:
        base = pipeline_context(
            tmp_path, split_enabled=True, split_min_duration_seconds=10.0, chunk_seconds=CHUNK_SECONDS
        ).settings
        storage = StorageSettings(
            backend="s3", s3_endpoint=proxy.endpoint, s3_bucket_prefix=f"t{uuid.uuid4().hex[:8]}-"
        )
        settings = base.model_copy(update={"storage": storage})
        queue = ListQueue()
        ctx = PipelineContext(settings, open_store(storage), Catalog(settings.catalog), SplitAndStitch(queue))
        yield S3Split(ctx, queue, proxy)


def finish(s3: S3Split, asset_id: str, job_id: str) -> None:
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
        assert s3.ctx.store.stat("media", f"{asset_id}/{key}").size > 0, key


def test_parts_read_their_own_stretch_of_the_original(s3: S3Split, source: Path) -> None:
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

    # The SDK downloaded the original once, for the whole part (audio, storyboard, thumbnails and
    # poster read all of it); otherwise it read only ranges, as much as two probes take (the job's
    # and its join's; a probe demuxes 240 packets, 8 s here, to tell a variable frame rate).
    sdk = s3.proxy.reads_of(key, "sdk")
    assert len([g for g in sdk if not g.range]) == 1
    probe_start = len(sdk)
    probe_source(cast(BinaryIO, ObjectReader(s3.ctx.store, "staging", key)))
    one_probe = sum(g.sent for g in s3.proxy.reads_of(key, "sdk")[probe_start:])
    assert sum(g.sent for g in sdk if g.range) <= 2 * one_probe
    # ffmpeg read only the chunks, by ranges; each well under half of the original (a fifth, plus
    # the index, what finding the streams reads and what socket buffers took of abandoned reads).
    assert all(g.range for g in s3.proxy.reads_of(key, "ffmpeg"))
    chunks, whole = read_by_part[:5], read_by_part[5]
    assert all(0 < read < size / 2 for read in chunks), (read_by_part, size)
    assert whole == 0
    # Downloads cost one original per chunk: five here.
    assert sum(chunks) < 2 * size, (read_by_part, size)


def test_a_part_whose_streamed_read_fails_downloads_the_original_next_time(s3: S3Split, source: Path) -> None:
    asset_id, job_id = submit(s3.ctx, source)
    key = f"originals/{source.name}"
    run_job(s3.ctx, job_id)
    parts = s3.queue.take("part")
    s3.proxy.refuse = lambda get: get.agent == "ffmpeg"  # presigned URLs refused (clock skew, a proxy, ...)
    assert s3.ctx.splitter is not None
    *chunk_parts, whole_part = parts
    for part_id in chunk_parts:
        with pytest.raises(TransientError) as raised:
            s3.ctx.splitter.run_part(s3.ctx, part_id)
        assert raised.value.reason == "source_stream"
        assert "the next attempt downloads it" in raised.value.message
        with s3.ctx.catalog.session() as s:
            assert s.get(Job, part_id).state == JobState.RUNNING  # left for the retry, not failed
        s3.ctx.splitter.run_part(s3.ctx, part_id)  # the retry: a download, which the proxy lets through
    s3.ctx.splitter.run_part(s3.ctx, whole_part)  # downloads from the start
    downloads = [g for g in s3.proxy.reads_of(key, "sdk") if not g.range]
    assert len(downloads) == len(parts)
    finish(s3, asset_id, job_id)
