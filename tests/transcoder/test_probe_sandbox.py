"""media.probe_sandbox: the real probe in its child, and every way that child can let us down
turned into InvalidMedia with a reason a creator can read (or SourceUnreachable for a URL)."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from catalog.models import AssetState, JobState
from media.errors import InvalidMedia, SourceUnreachable
from media.probe import ProbeLimits
from media.probe_sandbox import probe_isolated
from media.settings import ProbeSettings
from tests.media import make_clip
from tests.transcoder.harness import job_outcome, pipeline_context, submit
from transcoder.pipeline import run_job

PROMPTLY = 20.0
KILLED = "was killed by SIGKILL"  # generous bound for limits of 1-2 s on a loaded machine


def _script(tmp_path: Path, code: str) -> ProbeSettings:
    script = tmp_path / "probe.py"
    script.write_text(code)
    return ProbeSettings(wall_seconds=30, command=[sys.executable, str(script)])


@pytest.mark.ffmpeg
def test_the_real_probe_describes_a_clip_from_its_child(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=2, size="320x180")
    info = probe_isolated(clip, ProbeSettings())
    assert (info.video.width, info.video.height, info.duration) == (320, 180, pytest.approx(2.0, abs=0.1))
    assert info.audio is not None and info.audio.channels == 2


@pytest.mark.ffmpeg
def test_the_probe_reports_what_the_video_alone_spends_where_the_container_states_it(tmp_path: Path) -> None:
    # The content-aware ladder caps its rungs by the source's video (transcoder.encode.fitted.source_video_bitrate).
    import av

    mp4 = make_clip(tmp_path / "clip.mp4", seconds=2, size="320x180")
    with av.open(str(mp4)) as container:
        video = container.streams.video[0]
        packets = sum(packet.size for packet in container.demux(video))
    info = probe_isolated(mp4, ProbeSettings())
    assert info.video is not None and info.video.bit_rate == pytest.approx(packets * 8 / info.duration, rel=0.02)
    assert info.video.bit_rate < mp4.stat().st_size * 8 / info.duration  # the audio is not counted
    mkv = make_clip(tmp_path / "clip.mkv", seconds=2, size="320x180")
    info = probe_isolated(mkv, ProbeSettings())
    assert info.video is not None and info.video.bit_rate is None  # Matroska states no stream rate


@pytest.mark.ffmpeg
def test_the_childs_answer_of_invalid_media_is_passed_on(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=2, size="320x180")
    with pytest.raises(InvalidMedia) as caught:
        probe_isolated(clip, ProbeSettings(), ProbeLimits(max_width=100))
    assert (caught.value.reason, caught.value.message) == ("too_large", "video is 320x180; the limit is 100x4320")


def test_a_source_that_never_delivers_a_byte_fails_within_the_limit() -> None:
    # A server that takes the connection and never answers: the real probe waits in its first read
    # (libavformat's own network timeout is 30 s).
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/original.mp4"
        started = time.monotonic()
        with pytest.raises(InvalidMedia) as caught:
            probe_isolated(url, ProbeSettings(wall_seconds=1.5))
    assert caught.value.reason == "probe_timeout"
    assert caught.value.message == "the file could not be read within 1.5 s"
    assert time.monotonic() - started < PROMPTLY


@pytest.mark.parametrize(
    ("code", "limit", "reason", "message"),
    [
        ("b = bytearray(4 * 1024**3)", {"memory_mb": 256}, "probe_memory", "needed more than 256 MiB of memory"),
        ("while True: pass", {"cpu_seconds": 1}, "probe_cpu", "took more than 1 s of CPU time"),
    ],
)
def test_a_probe_over_its_limits_says_which(
    tmp_path: Path, code: str, limit: dict[str, int], reason: str, message: str
) -> None:
    settings = _script(tmp_path, code + "\n").model_copy(update=limit)
    with pytest.raises(InvalidMedia) as caught:
        probe_isolated(tmp_path / "any.mp4", settings)
    assert (caught.value.reason, caught.value.message) == (reason, f"reading the file {message}")


@pytest.mark.parametrize(
    "printed",
    ["", "not json", '{"info": {"format": "mp4"}}', '{"something": "else"}', "[1, 2]"],
)
def test_an_answer_that_is_not_one_fails_the_file(tmp_path: Path, printed: str) -> None:
    settings = _script(tmp_path, f"print({printed!r})\n")
    with pytest.raises(InvalidMedia) as caught:
        probe_isolated(tmp_path / "any.mp4", settings)
    assert caught.value.reason == "probe_failed"


def test_a_crash_says_how_the_reader_ended(tmp_path: Path) -> None:
    settings = _script(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    with pytest.raises(InvalidMedia) as caught:
        probe_isolated(tmp_path / "any.mp4", settings)
    assert caught.value.message == "the file could not be read: the reader was killed by SIGSEGV"


def test_the_child_sees_no_secret_of_its_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VODSTACK_STORAGE_S3_SECRET_KEY", "s3secret")
    monkeypatch.setenv("VODSTACK_INGEST_TOKENS", '["token"]')
    code = "import json, os\nprint(json.dumps({'invalid': {'message': ' '.join(sorted(os.environ)), 'reason': 'x'}}))\n"
    with pytest.raises(InvalidMedia) as caught:
        probe_isolated(tmp_path / "any.mp4", _script(tmp_path, code))
    assert "VODSTACK" not in caught.value.message and "PATH" in caught.value.message.split()


def test_an_unreachable_url_is_a_transient_failure_without_its_query(tmp_path: Path) -> None:
    # Nothing listens on port 9 of loopback (discard): the connection is refused.
    url = "http://127.0.0.1:9/staging/original?X-Amz-Signature=secret"
    with pytest.raises(SourceUnreachable) as caught:
        probe_isolated(url, ProbeSettings(wall_seconds=30))
    assert caught.value.retryable and "secret" not in caught.value.message


@pytest.mark.parametrize(
    ("code", "reason", "error"),
    [
        ("import time; time.sleep(600)", "probe_timeout", "the file could not be read within 1.5 s"),
        (
            "import os; os.kill(os.getpid(), 9)",
            "probe_crashed",
            "the file could not be read: the reader was killed by SIGKILL",
        ),
    ],
)
def test_a_job_whose_probe_hangs_or_is_killed_fails_once_with_the_reason(
    tmp_path: Path, code: str, reason: str, error: str
) -> None:
    probe = ProbeSettings(wall_seconds=1.5, command=[sys.executable, "-c", code])
    ctx = pipeline_context(tmp_path, probe=probe)
    original = tmp_path / "original.mp4"
    original.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(1000))
    asset_id, job_id = submit(ctx, original)
    started = time.monotonic()
    run_job(ctx, job_id)  # returns: the job failed for good, no retry
    assert time.monotonic() - started < PROMPTLY
    asset, job = job_outcome(ctx, asset_id, job_id)
    assert (job.state, asset.state) == (JobState.FAILED, AssetState.FAILED)
    assert (job.error_reason, job.error, asset.error) == (reason, error, error)
    assert list(ctx.store.list("media", f"{asset_id}/")) == []
