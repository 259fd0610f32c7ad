"""The walking skeleton end to end over real processes: `vodstack up`, tuspy, ffmpeg as the player.

Run three ways: embedded defaults (filesystem store, SQLite, filesystem broker); the S3 backend on
moto's server; and (when configured) Redis as broker with PostgreSQL as catalog.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from tusclient import client as tus_client

from catalog.models import Job, Upload
from catalog.session import Catalog
from catalog.settings import CatalogSettings
from storage.factory import open_store
from storage.settings import StorageSettings
from tests.media import assert_plays_whole, ffmpeg_exe, make_clip
from tests.s3 import moto_server
from vodstack.supervisor import SERVICES_FILE, free_port

pytestmark = [pytest.mark.stack, pytest.mark.ffmpeg, pytest.mark.timeout(600)]

READY_TIMEOUT = 240.0


@dataclass
class Stack:
    info: dict[str, str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.info['token']}"}

    def storage(self) -> StorageSettings:
        env = {
            k[len("VODSTACK_STORAGE_") :].lower(): v for k, v in self.env.items() if k.startswith("VODSTACK_STORAGE_")
        }
        return StorageSettings(root=Path(self.info["data_dir"]) / "objects", **env)


def start_stack(tmp_path: Path, extra_env: dict[str, str]) -> Stack:
    data = tmp_path / "data"
    env = {**os.environ, **extra_env}
    argv = [sys.executable, "-m", "vodstack", "--data-dir", str(data), "up"]
    for name in ("ingest", "origin", "shield", "edge"):
        argv += [f"--{name}-port", str(free_port())]
    with open(tmp_path / "up.log", "wb") as log:  # the child writes to its own copy
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while not (data / SERVICES_FILE).exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"vodstack up did not start:\n{(tmp_path / 'up.log').read_text()}")
        time.sleep(0.2)
    return Stack(json.loads((data / SERVICES_FILE).read_text()), extra_env, proc)


@contextlib.contextmanager
def stack_catalog(stack: Stack) -> Iterator[Catalog]:
    """The catalog the stack uses: the configured one (PostgreSQL in CI's second run), else SQLite in
    its data directory; its connections closed on leaving."""
    url = {**os.environ, **stack.env}.get("VODSTACK_CATALOG_URL") or f"sqlite:///{stack.info['data_dir']}/catalog.db"
    catalog = Catalog(CatalogSettings(url=url), apply_migrations=False)
    try:
        yield catalog
    finally:
        catalog.dispose()


def stop_stack(stack: Stack, tmp_path: Path) -> None:
    stack.proc.send_signal(signal.SIGTERM)
    try:
        code = stack.proc.wait(timeout=45)
    except subprocess.TimeoutExpired:
        stack.proc.kill()
        raise AssertionError("vodstack up did not stop within 45 s of SIGTERM") from None
    assert code == 0, (tmp_path / "up.log").read_text()
    assert not Path(stack.info["data_dir"], SERVICES_FILE).exists()


def tus_upload(stack: Stack, path: Path) -> str:
    """Upload with the real tuspy client; return the asset id the server assigned."""
    client = tus_client.TusClient(stack.info["tus"], headers=stack.headers)
    with path.open("rb") as stream:  # tuspy leaves the files it opens from a path open
        uploader = client.uploader(file_stream=stream, chunk_size=256 * 1024, metadata={"filename": path.name})
        uploader.upload()
    resp = httpx.head(str(uploader.url), headers={**stack.headers, "Tus-Resumable": "1.0.0"})
    assert resp.status_code in (200, 204), resp.text
    assert int(resp.headers["Upload-Offset"]) == path.stat().st_size
    return resp.headers["Vodstack-Asset-Id"]


def wait_for_terminal(stack: Stack, asset_id: str) -> dict[str, object]:
    deadline = time.monotonic() + READY_TIMEOUT
    seen = []
    while time.monotonic() < deadline:
        asset = httpx.get(f"{stack.info['ingest']}/assets/{asset_id}", headers=stack.headers).raise_for_status().json()
        seen.append(asset["state"])
        if asset["state"] in ("ready", "failed"):
            return dict(asset)
        time.sleep(0.5)
    logs = "\n".join(p.read_text()[-3000:] for p in Path(stack.info["logs"]).glob("*.log"))
    raise AssertionError(f"asset {asset_id} not done after {READY_TIMEOUT} s (states {seen[-5:]})\n{logs}")


def check_upload_play_and_reject(stack: Stack, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=8, size="640x360")
    asset_id = tus_upload(stack, clip)
    asset = wait_for_terminal(stack, asset_id)
    assert asset["state"] == "ready", asset
    playback = asset["playback"]
    hls_url = playback["hls"]
    assert isinstance(hls_url, str) and hls_url.startswith(stack.info["edge"]) and hls_url.endswith("master.m3u8")
    assert {r["name"] for r in asset["renditions"]} >= {"234p", "360p"}
    assert asset["first_playable_at"] is not None
    for extra in ("poster", "storyboard"):
        url = playback[extra]
        assert isinstance(url, str) and httpx.get(url).status_code == 200, (extra, url)
    # ffmpeg as the player, through edge -> shield -> origin: every rung and the audio, whole.
    assert_plays_whole(hls_url, 8.0)
    # The edge served it from its cache on a second request.
    again = httpx.get(hls_url)
    assert again.status_code == 200 and "hit" in again.headers.get("Cache-Status", "").lower()

    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(300_000))
    bad_id = tus_upload(stack, junk)
    bad = wait_for_terminal(stack, bad_id)
    assert bad["state"] == "failed"
    assert isinstance(bad["error"], str) and len(bad["error"]) > 10
    assert bad["playback"]["hls"] is None
    store = open_store(stack.storage())
    assert list(store.list(stack.storage().media_bucket, f"{bad_id}/")) == []


def test_embedded_defaults(tmp_path: Path) -> None:
    stack = start_stack(tmp_path, {})
    try:
        check_upload_play_and_reject(stack, tmp_path)
        check_audio_only(stack, tmp_path)
    finally:
        stop_stack(stack, tmp_path)


def check_audio_only(stack: Stack, tmp_path: Path) -> None:
    """An uploaded mp3 (issue 14: it failed "no video stream") ends ready with its audio-only ladder,
    played whole through the edge, its waveform and its M4A; a file with neither audio nor video fails
    with a reason."""
    song = tmp_path / "song.mp3"
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]
    argv += ["-i", "sine=frequency=440:sample_rate=44100:duration=4", "-ac", "2", "-c:a", "libmp3lame", str(song)]
    subprocess.run(argv, check=True)
    asset = wait_for_terminal(stack, tus_upload(stack, song))
    assert asset["state"] == "ready", asset
    assert asset["kind"] == "audio" and asset["width"] is None
    assert sorted((r["name"], r["kind"]) for r in asset["renditions"]) == [("audio", "audio"), ("audio-64k", "audio")]
    assert [t["name"] for t in asset["audio_tracks"]] == ["audio", "audio-64k"]
    playback = asset["playback"]
    assert_plays_whole(playback["hls"], 4.0, video=False, tolerance=0.1)
    assert_plays_whole(playback["dash"], 4.0, video=False, tolerance=0.1)
    waveform = httpx.get(playback["waveform"])
    assert waveform.status_code == 200 and waveform.headers["content-type"] == "image/png"
    assert playback["poster"] == playback["waveform"] and playback["storyboard"] is None
    assert [d["kind"] for d in asset["downloads"]] == ["audio"]
    assert httpx.get(asset["downloads"][0]["url"]).status_code == 200

    subtitles = tmp_path / "only-subtitles.mkv"
    (tmp_path / "s.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhi\n")
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(tmp_path / "s.srt")]
    subprocess.run([*argv, "-c:s", "srt", str(subtitles)], check=True)
    bad = wait_for_terminal(stack, tus_upload(stack, subtitles))
    assert bad["state"] == "failed" and "neither a video nor an audio stream" in str(bad["error"]), bad


@pytest.mark.s3
def test_s3_backend_on_moto(tmp_path: Path) -> None:
    with moto_server() as endpoint:
        env = {
            "VODSTACK_STORAGE_BACKEND": "s3",
            "VODSTACK_STORAGE_S3_ENDPOINT": endpoint,
            "VODSTACK_STORAGE_S3_ACCESS_KEY": "testing",
            "VODSTACK_STORAGE_S3_SECRET_KEY": "testing",
        }
        stack = start_stack(tmp_path, env)
        try:
            check_upload_play_and_reject(stack, tmp_path)
        finally:
            stop_stack(stack, tmp_path)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    import psycopg

    base = os.environ["VODSTACK_TEST_POSTGRES_URL"]  # e.g. postgresql://postgres@127.0.0.1:5432/test
    name = f"vodstack_{secrets.token_hex(4)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    head, _, _ = base.rpartition("/")
    yield f"{head}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def redis_url() -> str:
    import redis

    base = os.environ["VODSTACK_TEST_REDIS_URL"]  # e.g. redis://127.0.0.1:6379
    url = f"{base.rstrip('/')}/{secrets.randbelow(14) + 1}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.mark.redis
@pytest.mark.postgres
def test_redis_broker_and_postgres_catalog(tmp_path: Path, redis_url: str, postgres_url: str) -> None:
    stack = start_stack(tmp_path, {"VODSTACK_BROKER_URL": redis_url, "VODSTACK_CATALOG_URL": postgres_url})
    try:
        check_upload_play_and_reject(stack, tmp_path)
    finally:
        stop_stack(stack, tmp_path)


def test_private_asset_plays_only_with_its_signed_url(tmp_path: Path) -> None:
    stack = start_stack(tmp_path, {})
    try:
        clip = make_clip(tmp_path / "private.mp4", seconds=4, size="640x360")
        client = tus_client.TusClient(stack.info["tus"], headers=stack.headers)
        with clip.open("rb") as stream:
            metadata = {"filename": clip.name, "visibility": "private"}
            uploader = client.uploader(file_stream=stream, chunk_size=1024 * 1024, metadata=metadata)
            uploader.upload()
        asset_id = httpx.head(str(uploader.url), headers={**stack.headers, "Tus-Resumable": "1.0.0"}).headers[
            "Vodstack-Asset-Id"
        ]
        asset = wait_for_terminal(stack, asset_id)
        assert asset["state"] == "ready", asset
        signed = asset["playback"]["hls"]
        assert isinstance(signed, str) and "token=" in signed
        unsigned = signed.split("?", 1)[0]
        assert httpx.get(unsigned).status_code == 403
        assert httpx.get(unsigned.replace("master.m3u8", "234p/seg_00001.m4s")).status_code == 403
        tampered = signed[:-3] + ("AAA" if not signed.endswith("AAA") else "BBB")
        assert httpx.get(tampered).status_code == 403
        assert_plays_whole(signed, 4.0)  # every playlist, segment and init URI carries the token
    finally:
        stop_stack(stack, tmp_path)


def test_a_worker_killed_mid_encode_is_restarted_and_the_job_finishes(tmp_path: Path) -> None:
    # An hour's heartbeat timeout: the job can come back only because the restarted worker's sweeper
    # sees that the process holding it on this machine is gone (transcoder.worker.sweeper).
    stack = start_stack(tmp_path, {"VODSTACK_TRANSCODER_HEARTBEAT_TIMEOUT_SECONDS": "3600"})
    try:
        clip = make_clip(tmp_path / "long.mp4", seconds=30, size="640x360")
        asset_id = tus_upload(stack, clip)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:  # mid-encode
            asset = httpx.get(f"{stack.info['ingest']}/assets/{asset_id}", headers=stack.headers)
            asset = asset.raise_for_status().json()
            if asset["state"] == "processing" and (asset["progress"] or 0) >= 0.2:
                break
            assert asset["state"] not in ("ready", "failed") and time.monotonic() < deadline, asset
            time.sleep(0.2)
        # The whole worker (main process, pool, ffmpeg): its own process group, as the supervisor starts it.
        port = stack.info["worker_metrics"]["worker-1"].rsplit(":", 1)[1].split("/")[0]
        found = subprocess.run(["pgrep", "-f", "--", f"--metrics-port {port} "], capture_output=True, text=True)
        pids = [int(p) for p in found.stdout.split()]
        leader = next(pid for pid in pids if os.getpgid(pid) == pid)
        os.killpg(leader, signal.SIGKILL)

        asset = wait_for_terminal(stack, asset_id)
        assert asset["state"] == "ready", asset
        assert_plays_whole(asset["playback"]["hls"], 30.0)
        assert "worker-1 exited (-9); restarting" in (tmp_path / "up.log").read_text()
        with stack_catalog(stack) as catalog, catalog.session() as s:
            (attempts,) = s.execute(select(Job.attempts).where(Job.asset_id == asset_id)).one()
        assert attempts == 2
    finally:
        stop_stack(stack, tmp_path)


def test_vodstack_upload_follows_the_job_and_reports_a_failure(tmp_path: Path) -> None:
    """The README's `vodstack upload FILE`, as a creator runs it against `vodstack up`."""
    stack = start_stack(tmp_path, {})
    try:
        data = stack.info["data_dir"]
        clip = make_clip(tmp_path / "trip.mp4", seconds=30, size="640x360")
        run = subprocess.run(
            [sys.executable, "-m", "vodstack", "--data-dir", data, "upload", str(clip)],
            capture_output=True, text=True, timeout=READY_TIMEOUT,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        lines = run.stdout.splitlines()
        ready = next(line for line in lines if line.startswith("ready: "))[len("ready: ") :]
        assert ready.startswith(stack.info["edge"]) and ready.endswith("/master.m3u8")
        assert any(line.startswith("dash:  ") and line.endswith("/manifest.mpd") for line in lines)
        # The lowest rung was announced while the rest still encoded (progressive publish).
        assert f"playable while encoding: {ready}" in lines, run.stdout
        assert_plays_whole(ready, 30.0)

        junk = tmp_path / "junk.mp4"
        junk.write_bytes(os.urandom(300_000))
        run = subprocess.run(
            [sys.executable, "-m", "vodstack", "--data-dir", data, "upload", str(junk)],
            capture_output=True, text=True, timeout=READY_TIMEOUT,
        )  # fmt: skip
        assert run.returncode == 1, run.stdout + run.stderr
        assert "failed: " in run.stderr and "ready: " not in run.stdout
    finally:
        stop_stack(stack, tmp_path)


def test_vodstack_upload_resumes_after_it_was_killed(tmp_path: Path) -> None:
    """'resumable: run it again after an interruption' (README): the second run continues the same
    upload (same asset) and the staged original is byte-identical to the file."""
    stack = start_stack(tmp_path, {})
    try:
        data = Path(stack.info["data_dir"])
        clip = make_clip(tmp_path / "big.mp4", seconds=4, size="640x360")
        with clip.open("ab") as f:  # 200 MB more as a top-level 'free' box: still a valid MP4
            padding = 200 * 1024 * 1024
            f.write((padding + 8).to_bytes(4, "big") + b"free")
            f.write(bytes(padding))
        argv = [sys.executable, "-m", "vodstack", "--data-dir", str(data), "upload", str(clip)]
        first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        storage = data / "tus-url-storage.json"

        def stored_urls() -> list[str]:
            try:
                entries = json.loads(storage.read_text())["_default"].values()
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                return []  # not written yet, or being written
            return [entry["url"] for entry in entries if entry.get("url")]

        deadline = time.monotonic() + 60
        while not stored_urls():
            assert first.poll() is None and time.monotonic() < deadline, "the upload was never created"
            time.sleep(0.01)
        first.kill()  # as soon as the upload exists: mid-transfer
        first.wait()
        (url,) = stored_urls()
        head = httpx.head(url, headers={**stack.headers, "Tus-Resumable": "1.0.0"})
        assert int(head.headers["Upload-Offset"]) < clip.stat().st_size
        asset_id = head.headers["Vodstack-Asset-Id"]

        second = subprocess.run(argv, capture_output=True, text=True, timeout=READY_TIMEOUT)
        assert second.returncode == 0, second.stdout + second.stderr
        assert f"asset {asset_id}:" in second.stdout  # the same upload, continued
        with stack_catalog(stack) as catalog, catalog.session() as s:
            (sha256,) = s.execute(select(Upload.sha256).where(Upload.asset_id == asset_id)).one()
        assert sha256 == hashlib.sha256(clip.read_bytes()).hexdigest()
    finally:
        stop_stack(stack, tmp_path)
