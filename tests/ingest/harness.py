"""Test harness: uvicorn in a thread on loopback, moto's S3 server, broker inspection, sample media."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

TUS = {"Tus-Resumable": "1.0.0"}


class ServerThread:
    """A real uvicorn serving `app` on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        yield f"127.0.0.1:{server._server.server_port}"  # noqa: SLF001 - moto exposes no public accessor
    finally:
        server.stop()


def queued_messages(folder: Path) -> list[dict[str, Any]]:
    """Task messages waiting in the filesystem transport's queue folder (kombu's JSON envelopes)."""
    out = []
    queue_dir = folder / "queue"
    if not queue_dir.is_dir():
        return out
    for path in sorted(queue_dir.iterdir()):
        envelope = json.loads(path.read_text())
        body = (
            json.loads(base64.b64decode(envelope["body"]))
            if envelope.get("properties", {}).get("body_encoding") == "base64"
            else envelope["body"]
        )
        out.append({"task": envelope["headers"].get("task"), "args": body[0], "envelope": envelope})
    return out


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())
