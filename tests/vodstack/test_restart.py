"""The whole stack stopped with Ctrl-C (SIGINT to `vodstack up`) at several points of an encode, then
started again: what players can reach is never a 0-byte or truncated object, nothing keeps running
after the stop (no ffmpeg, no worker finishing the job in the background), and the job ends ready
(every object non-empty, every stream decodable) or failed with a reason.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import m3u8
import pytest
from sqlalchemy import select

from catalog.models import Asset, AssetState, Job, JobState
from tests.media import ffmpeg_exe, make_clip
from tests.vodstack.test_stack import Stack, stack_catalog, start_stack, tus_upload, wait_for_terminal
from vodstack.supervisor import SERVICES_FILE

pytestmark = [pytest.mark.stack, pytest.mark.ffmpeg, pytest.mark.timeout(900)]

SECONDS = 40
POINT_TIMEOUT = 240.0
STOP_TIMEOUT = 60.0
# The catalog as the test sees it at a point: (asset, job).
Point = Callable[[Asset, Job], bool]


def _claimed(attempt: int) -> Point:
    return lambda asset, job: job.attempts == attempt and asset.state == AssetState.PROCESSING


def _playable(attempt: int) -> Point:
    # Progressive publishing put out this attempt's early master: its segments are in the bucket.
    return lambda asset, job: job.attempts == attempt and f"/a{attempt}/" in (asset.master_key or "")


def _late(attempt: int) -> Point:
    return lambda asset, job: job.attempts == attempt and (asset.progress or 0) >= 0.6


def _catalog_row(stack: Stack, asset_id: str) -> tuple[Asset, Job]:
    with stack_catalog(stack) as catalog, catalog.session() as s:
        asset = s.get(Asset, asset_id)
        job = s.scalars(select(Job).where(Job.asset_id == asset_id, Job.parent_id.is_(None))).one()
        assert asset is not None
        s.expunge_all()
        return asset, job


def _wait_for_point(stack: Stack, asset_id: str, point: Point, name: str) -> None:
    deadline = time.monotonic() + POINT_TIMEOUT
    while True:
        asset, job = _catalog_row(stack, asset_id)
        if point(asset, job):
            return
        assert asset.state not in (AssetState.READY, AssetState.FAILED), f"finished before {name}: {asset.state}"
        assert time.monotonic() < deadline, f"never reached {name} (attempt {job.attempts}, {asset.progress})"
        time.sleep(0.05)


def _survivors(data: Path) -> list[str]:
    """Processes of this stack still alive: any whose command line names the data directory (ffmpeg
    writes into data/work) or whose environment points at it (every child the supervisor started)."""
    found = []
    marker = str(data).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue  # gone meanwhile, or not ours
        if marker in cmdline or b"VODSTACK_DATA_DIR=" + marker + b"\0" in environ + b"\0":
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{proc.name}: {command[:200]}")
    return found


def _named_objects(media: Path, master_key: str) -> list[Path]:
    """Every object a player can reach from the master playlist: media playlists, inits, segments."""
    folder = media / master_key.rpartition("/")[0]
    master = m3u8.load(str(media / master_key))
    playlists = [p.uri for p in master.playlists] + [m.uri for m in master.media if m.uri]
    named = [media / master_key]
    for uri in playlists:
        playlist = folder / uri
        named.append(playlist)
        parsed = m3u8.load(str(playlist))
        named += [playlist.parent / s.uri for s in parsed.segment_map] + [
            playlist.parent / s.uri for s in parsed.segments
        ]
    return named


def _assert_reachable_objects_whole(media: Path, asset: Asset) -> None:
    if asset.master_key is None:
        return
    for path in _named_objects(media, asset.master_key):
        assert path.is_file() and path.stat().st_size > 0, (
            f"{path} is named by the published playlists but empty or gone"
        )


def _status(data: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "vodstack", "--data-dir", str(data), "status", "--json"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def _stop_with_ctrl_c(stack: Stack, tmp_path: Path) -> None:
    data = Path(stack.info["data_dir"])
    stack.proc.send_signal(signal.SIGINT)
    try:
        code = stack.proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        stack.proc.kill()
        raise AssertionError(f"vodstack up still running {STOP_TIMEOUT:.0f} s after Ctrl-C") from None
    assert code == 0, (tmp_path / "up.log").read_text()[-3000:]
    assert not (data / SERVICES_FILE).exists()
    assert _survivors(data) == []
    status = _status(data)
    assert status.returncode == 1 and "not running" in status.stderr, status


def _attempt_dirs(prefix: Path) -> set[str]:
    """The attempt directories (a1, a2, ...) holding files under `prefix`, listed again when a directory
    vanished during the walk: the publishing attempt removes the stopped ones' leftovers meanwhile."""
    for _ in range(100):
        try:
            return {p.relative_to(prefix).parts[0] for p in prefix.rglob("*.*")}
        except FileNotFoundError:
            time.sleep(0.01)
    raise AssertionError(f"{prefix} kept changing under a walk of it")


def test_ctrl_c_at_several_points_of_an_encode_never_publishes_a_broken_object(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=SECONDS, size="640x360")
    # The fixed ladder: the interruptions are the subject, and they are timed against the encode's output.
    env = {"VODSTACK_TRANSCODER_SEGMENT_SECONDS": "2", "VODSTACK_TRANSCODER_LADDER": "fixed"}
    stack = start_stack(tmp_path, env)
    data = Path(stack.info["data_dir"])
    media = data / "objects" / "media"
    asset_id = ""
    try:
        # Keys, the catalog (when it is the embedded SQLite file) and the upload token are the owner's alone.
        private = [SERVICES_FILE, "dev-token", "signing-secret"]
        if not os.environ.get("VODSTACK_CATALOG_URL"):
            private.append("catalog.db")
        for name in private:
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
        status = _status(data)
        assert status.returncode == 0 and json.loads(status.stdout)["pid"] == stack.proc.pid, status

        asset_id = tus_upload(stack, clip)
        points = [("claimed", _claimed(1)), ("playable", _playable(2)), ("late", _late(3))]
        for name, point in points:
            _wait_for_point(stack, asset_id, point, name)
            _stop_with_ctrl_c(stack, tmp_path)
            asset, job = _catalog_row(stack, asset_id)
            # Stopped, not finished in the background; and whatever is published is whole.
            assert asset.state == AssetState.PROCESSING and job.state == JobState.RUNNING, (
                name,
                asset.state,
                job.state,
            )
            _assert_reachable_objects_whole(media, asset)
            stack = start_stack(tmp_path, env)

        final = wait_for_terminal(stack, asset_id)
        if final["state"] == "ready":
            # The publishing attempt removes the stopped attempts' leftovers right after the asset
            # turns ready (and again should its message come back): wait for that, bounded.
            deadline = time.monotonic() + POINT_TIMEOUT
            while len(_attempt_dirs(media / asset_id)) > 1:
                assert time.monotonic() < deadline, sorted(p.name for p in (media / asset_id).iterdir())
                time.sleep(0.1)
    finally:
        if stack.proc.poll() is None:
            _stop_with_ctrl_c(stack, tmp_path)

    asset, job = _catalog_row(stack, asset_id)
    assert job.attempts == len(points) + 1
    if final["state"] == "failed":
        assert isinstance(final["error"], str) and len(final["error"]) > 10
        assert not any(p.is_file() for p in (media / asset_id).rglob("*"))
        return
    assert final["state"] == "ready" and asset.master_key == f"{asset_id}/a{job.attempts}/master.m3u8"
    # Every object of the asset is the last attempt's and whole; nothing of the stopped ones remains.
    stored = [p for p in (media / asset_id).rglob("*") if p.is_file()]
    assert stored and all(p.stat().st_size > 0 for p in stored), [p for p in stored if p.stat().st_size == 0]
    assert {p.relative_to(media / asset_id).parts[0] for p in stored} == {f"a{job.attempts}"}
    _assert_reachable_objects_whole(media, asset)
    # Every stream of every rendition decodes, with not one error line.
    decoded = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(media / asset.master_key)]
        + ["-map", "0", "-f", "null", "-"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert decoded.returncode == 0 and decoded.stderr.strip() == "", decoded.stderr[-2000:]
