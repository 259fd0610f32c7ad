"""Test harness: uvicorn in a thread on loopback, moto's S3 server, broker inspection, sample media."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

TUS = {"Tus-Resumable": "1.0.0"}


class ServerThread:
    """A real uvicorn serving `app` on 127.0.0.1:<free port> (or `port`) in a background thread."""

    def __init__(self, app: Any, port: int = 0) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 60
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


def _tcp_address(address: tuple[str, int]) -> str:
    """An IPv4 socket address as /proc/net/tcp writes it: "0100007F:1F90" for 127.0.0.1:8080."""
    host, port = address[:2]
    return f"{int.from_bytes(socket.inet_aton(host), 'little'):08X}:{port:04X}"


def wait_body_received(url: str, sock: socket.socket, seconds: float = 60.0) -> None:
    """Return once the ingest server at `url` is reading the request body sent on loopback TCP `sock`
    and has read every byte of it: its /metrics counts an upload receiving data, our send queue and its
    receive queue are empty (/proc/net/tcp: tx_queue, rx_queue). A request taking the upload over from
    then on finds all of those bytes in the holder's hands, however loaded the machine is (a sleep
    guessed how long the holder needs to get there; on a loaded machine it had not started reading).
    Raises AssertionError after `seconds`."""
    here, there = _tcp_address(sock.getsockname()), _tcp_address(sock.getpeername())
    deadline = time.monotonic() + seconds
    while True:
        metrics = httpx.get(f"{url}/metrics", timeout=30).raise_for_status().text
        receiving = "vodstack_ingest_active_uploads 1.0" in metrics.splitlines()
        queues: dict[tuple[str, str], tuple[int, int]] = {}
        with open("/proc/net/tcp") as table:
            for line in table.readlines()[1:]:  # "sl local rem st tx_queue:rx_queue ..."
                fields = line.split()
                tx, _, rx = fields[4].partition(":")
                queues[fields[1], fields[2]] = (int(tx, 16), int(rx, 16))
        unsent, _ = queues.get((here, there), (-1, -1))
        _, unread = queues.get((there, here), (-1, -1))
        if receiving and unsent == 0 and unread == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} is not reading the body ({receiving=}, {unsent} unsent, {unread} unread)")
        time.sleep(0.01)


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


class Tus:
    """A thin raw-HTTP TUS helper: every call returns the httpx response, nothing is checked."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60)
        self.auth = {"Authorization": f"Bearer {token}", **TUS}

    def close(self) -> None:
        self.http.close()

    def get(self, path: str) -> httpx.Response:
        """A GET of the asset API with this client's key."""
        return self.http.get(path, headers={"Authorization": self.auth["Authorization"]})

    def create(self, length: int | None = None, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        h = dict(self.auth)
        if length is not None:
            h["Upload-Length"] = str(length)
        h.update(headers or {})
        return self.http.post("/files/", headers=h, **kw)

    def path_of(self, created: httpx.Response) -> str:
        return httpx.URL(created.headers["location"]).path

    def new(self, length: int | None = None, **kw: Any) -> str:
        response = self.create(length, **kw)
        if response.status_code != 201:
            raise AssertionError(f"create failed: {response.status_code} {response.text}")
        return self.path_of(response)

    def head(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.head(path, headers={**self.auth, **(headers or {})})

    def patch(self, path: str, offset: int, data: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        h = {**self.auth, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
        h.update(headers or {})
        return self.http.patch(path, headers=h, content=data)

    def delete(self, path: str) -> httpx.Response:
        return self.http.delete(path, headers=self.auth)


class IngestProcess:
    """A real ingest process (`tests/ingest/serve.py`) on a listening socket owned by the test, so it
    can be SIGKILLed and restarted behind the same URL."""

    def __init__(self, settings: Any, sock: socket.socket | None = None) -> None:
        self.settings = settings
        self.sock = sock or socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> IngestProcess:
        env = {
            **os.environ,
            "INGEST_SETTINGS_JSON": self.settings.model_dump_json(),
            "INGEST_FD": str(self.sock.fileno()),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.ingest.serve"],
            env=env,
            pass_fds=[self.sock.fileno()],
            cwd=Path(__file__).resolve().parents[2],
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                code = self.proc.poll()
                self.kill()
                raise RuntimeError(f"ingest process did not start (exit {code})")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def close(self) -> None:
        self.stop()
        self.sock.close()
