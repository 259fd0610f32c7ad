"""The loopback relay (media.relay): a name for a presigned URL, answered with the URL's bytes and
ranges to this user's processes only, for as long as the URL is valid."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest

from media.probe_sandbox import probe_isolated
from media.relay import Relay
from media.settings import ProbeSettings
from tests.loopback import LoopbackServer, QuietHandler
from tests.media import make_clip

BODY = bytes(range(256)) * 64


class Origin(QuietHandler):
    """What a presigned URL answers: the body, or a range of it; 403 without the signature."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if "X-Amz-Signature=sig" not in self.path:
            self.send_response(HTTPStatus.FORBIDDEN)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start = int(self.headers.get("range", "bytes=0-").removeprefix("bytes=").rstrip("-"))
        self.send_response(HTTPStatus.PARTIAL_CONTENT if start else HTTPStatus.OK)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(BODY) - 1}/{len(BODY)}")
        self.send_header("Content-Length", str(len(BODY) - start))
        self.end_headers()
        self.wfile.write(BODY[start:])


def test_a_name_reads_the_url_with_its_ranges_until_it_expires() -> None:
    relay = Relay()
    with LoopbackServer(Origin) as origin:
        name = relay.register(origin.url("/clip.mp4?X-Amz-Signature=sig"), timedelta(minutes=5))
        assert "X-Amz" not in name and name.startswith("http://127.0.0.1:")
        assert httpx.get(name).content == BODY
        ranged = httpx.get(name, headers={"Range": "bytes=1000-"})
        assert ranged.status_code == 206 and ranged.content == BODY[1000:]
        assert ranged.headers["content-range"] == f"bytes 1000-{len(BODY) - 1}/{len(BODY)}"
        # The upstream's refusal is passed on as is (a streamed encode then falls back to a download).
        refused = relay.register(origin.url("/clip.mp4?X-Amz-Signature=bad"), timedelta(minutes=5))
        assert httpx.get(refused).status_code == 403
        assert httpx.get(name.rpartition("/")[0] + "/unknown").status_code == 404
        gone = relay.register(origin.url("/clip.mp4?X-Amz-Signature=sig"), timedelta(seconds=-1))
        assert httpx.get(gone).status_code == 404


@pytest.mark.skipif(os.getuid() != 0, reason="switching to another user takes root")
def test_another_local_user_is_refused() -> None:
    relay = Relay()
    with LoopbackServer(Origin) as origin:
        name = relay.register(origin.url("/clip.mp4?X-Amz-Signature=sig"), timedelta(minutes=5))
        fetch = "\n".join(
            [
                "import urllib.error, urllib.request",
                f"try: urllib.request.urlopen({name!r})",
                "except urllib.error.HTTPError as e: print(e.code)",
            ]
        )
        # The system's Python: this checkout (and its virtualenv) may not be readable by that user.
        python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
        other = subprocess.run([python, "-c", fetch], user=65534, capture_output=True, text=True, check=True)
        assert other.stdout.strip() == "403", other
        assert httpx.get(name).content == BODY  # this user still reads it


@pytest.mark.ffmpeg
def test_a_probe_that_seeks_back_reads_through_the_relay(tmp_path: Path) -> None:
    """An MP4 with its index at the end makes the probe seek to the end, back to the media, and back to
    its first frame while the previous answer is still coming: each seek must get a connection of its
    own (with keep-alive, ffmpeg sent the next range on the busy connection and decoded nothing)."""
    clip = make_clip(tmp_path / "clip.mp4", seconds=8.0, size="640x360", rate="25")
    assert clip.read_bytes()[4:8] == b"ftyp" and b"moov" not in clip.read_bytes()[:4096]  # index at the end
    body = clip.read_bytes()

    class FileOrigin(QuietHandler):
        protocol_version = "HTTP/1.1"  # keeps connections open, as S3 does

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            start = int(self.headers.get("range", "bytes=0-").removeprefix("bytes=").rstrip("-"))
            self.send_response(HTTPStatus.PARTIAL_CONTENT)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            try:
                self.wfile.write(body[start:])
            except OSError:
                pass  # the reader seeked elsewhere

    relay = Relay()
    with LoopbackServer(FileOrigin) as origin:
        name = relay.register(origin.url("/clip.mp4?X-Amz-Signature=sig"), timedelta(minutes=5))
        info = probe_isolated(name, ProbeSettings())
    assert info.video is not None and (info.video.width, info.video.height) == (640, 360)
    assert info.duration == pytest.approx(8.0, abs=0.05)
