"""Import from a URL end to end over real processes: `vodstack up` (loopback sources allowed by the
operator setting), Python's own http.server as the source, `vodstack assets` as the client, ffmpeg as
the player; then the deletion purges the real shield and edge."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import m3u8
import pytest

from tests.media import assert_plays_whole, make_clip
from tests.vodstack.test_stack import start_stack, stop_stack, wait_for_terminal
from vodstack.cli import main
from vodstack.supervisor import free_port

pytestmark = [pytest.mark.stack, pytest.mark.ffmpeg, pytest.mark.timeout(600)]


def test_import_from_a_loopback_file_server_reaches_ready_and_delete_purges_the_edge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source_dir = tmp_path / "www"
    source_dir.mkdir()
    make_clip(source_dir / "talk.mp4", seconds=4, size="320x180")
    port = free_port()
    files = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(source_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack = start_stack(tmp_path, {"VODSTACK_IMPORT_ALLOW_PRIVATE_SOURCES": "true"})
    try:
        deadline = time.monotonic() + 30
        while True:  # the source server is up
            try:
                httpx.head(f"http://127.0.0.1:{port}/talk.mp4").raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        api = ["assets", "--api", stack.info["ingest"], "--token", stack.info["token"]]
        assert main([*api, "import", f"http://127.0.0.1:{port}/talk.mp4"]) == 0
        asset_id = capsys.readouterr().out.split()[1].rstrip(":")
        asset = wait_for_terminal(stack, asset_id)
        assert asset["state"] == "ready", asset
        assert asset["title"] == "talk.mp4" and asset["source_url"] == f"http://127.0.0.1:{port}/talk.mp4"
        hls = asset["playback"]["hls"]  # type: ignore[index]
        assert isinstance(hls, str) and hls.startswith(stack.info["edge"])
        assert_plays_whole(hls, 4.0)  # every rung and the audio, through edge -> shield -> origin
        master = m3u8.loads(httpx.get(hls).text, uri=hls)
        rung = m3u8.loads(httpx.get(master.playlists[0].absolute_uri).text, uri=master.playlists[0].absolute_uri)
        cached_urls = [hls, master.playlists[0].absolute_uri, rung.segments[0].absolute_uri]
        for url in cached_urls:
            again = httpx.get(url)
            assert again.status_code == 200 and "hit" in again.headers.get("Cache-Status", "").lower(), url

        assert main([*api, "delete", asset_id]) == 0
        for url in cached_urls:
            assert httpx.get(url).status_code == 404, url  # not the edge's cached copy
        assert main([*api, "show", asset_id]) == 0
        assert '"state": "deleted"' in capsys.readouterr().out
    finally:
        stop_stack(stack, tmp_path)
        files.terminate()
        files.wait(timeout=10)
