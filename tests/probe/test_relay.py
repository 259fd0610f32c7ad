"""The loopback relay (media.relay): a name for a presigned URL, answered with the URL's bytes and
ranges to this user's processes only, for as long as the URL is valid."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from http import HTTPStatus

import httpx
import pytest

from media.relay import Relay
from tests.loopback import LoopbackServer, QuietHandler

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
