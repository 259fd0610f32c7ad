"""What the browser tests share: the node scripts' folder and its npm install, a CORS file server standing in
for the edge, and running one of the node scripts (play.mjs, captions.mjs, audio_tracks.mjs, qoe.mjs) for its
JSON report. The scripts' own shared page server and polling live in harness.mjs."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from manifests.mime import content_type_for

HERE = Path(__file__).parent


class CorsHandler(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def guess_type(self, path: str | object) -> str:
        return content_type_for(str(path))

    def log_message(self, format: str, *args: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # players abort requests when they switch rungs or seek; a broken pipe is expected then
        pass


@contextmanager
def serving_directory(root: Path) -> Iterator[str]:
    """Serve `root` on a loopback port with CORS open, as the edge does; yields its base URL."""
    server = QuietServer(("127.0.0.1", 0), partial(CorsHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def node_modules() -> None:
    if (HERE / "node_modules" / "playwright-core").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=600)


def run_script(script: str, *args: str, timeout: float = 600) -> dict[str, Any]:
    """`node <script> args` in this folder (npm ci first if needed): its JSON report, asserted ok."""
    node_modules()
    proc = subprocess.run(["node", script, *args], cwd=HERE, capture_output=True, text=True, timeout=timeout)
    try:
        report: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"{script} printed no report (exit {proc.returncode}): {proc.stderr[-3000:]}") from None
    assert report["ok"], json.dumps(report, indent=2) + proc.stderr[-2000:]
    return report
