"""The edge's defences on real processes (`vodstack serve origin|edge`, as deployed): an edge with no
signing secret refuses signed objects, a spoofed X-Forwarded-For from a client on the same machine
does not satisfy an IP-bound token (uvicorn's own proxy-header handling, which believes any local
peer, is off), and a flood of bad paths leaves the edge serving."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from playback.signing import sign_token
from tests.cdn_edge.edge_stack import ASSET, PLAYLIST, SEGMENT, SEGMENT_BYTES, publish

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]
SECRET = "playback-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(service: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    argv = [sys.executable, "-m", "vodstack", "serve", service, "--port", str(port)]
    proc = subprocess.Popen(argv, env={**os.environ, **env}, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{service} did not start")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("stack")
    publish(tmp / "objects")
    common = {"VODSTACK_DATA_DIR": str(tmp / "data")}
    procs = []
    try:
        origin, origin_url = _serve("origin", {**common, "VODSTACK_ORIGIN_STORAGE__ROOT": str(tmp / "objects"),
                                               "VODSTACK_ORIGIN_ACCESS": "signed"})  # fmt: skip
        procs.append(origin)
        urls = {}
        for name, secret in (("signed", SECRET), ("secretless", "")):
            edge, urls[name] = _serve("edge", {
                **common, "VODSTACK_EDGE_NAME": name, "VODSTACK_EDGE_UPSTREAM_URL": origin_url,
                "VODSTACK_EDGE_DISK_DIR": str(tmp / name), "VODSTACK_EDGE_SIGNING_SECRET": secret,
            })  # fmt: skip
            procs.append(edge)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def _token(ip: str | None) -> str:
    return sign_token(SECRET.encode(), ASSET, int(time.time()) + 300, ip)


def test_edge_without_secret_refuses_signed_objects(stack: dict[str, str]) -> None:
    for _ in range(5):  # a miss, then memory hits answered by the HTTP protocol itself
        r = httpx.get(f"{stack['secretless']}/{PLAYLIST}")
        assert r.status_code == 403 and r.json()["error"] == "token_unverifiable"
    assert httpx.get(f"{stack['secretless']}/{SEGMENT}", params={"token": _token(None)}).status_code == 403


def test_spoofed_forwarded_for_from_a_local_client(stack: dict[str, str]) -> None:
    victim = {"token": _token("203.0.113.7")}
    spoofed = httpx.get(f"{stack['signed']}/{SEGMENT}", params=victim, headers={"X-Forwarded-For": "203.0.113.7"})
    assert spoofed.status_code == 403 and spoofed.json()["error"] == "token_invalid"
    own = httpx.get(f"{stack['signed']}/{SEGMENT}", params={"token": _token("127.0.0.1")})
    assert (own.status_code, own.content) == (200, SEGMENT_BYTES)


def test_flood_of_bad_paths_leaves_the_edge_serving(stack: dict[str, str]) -> None:
    with httpx.Client(base_url=stack["signed"]) as client:
        for i in range(100):
            path = ("/" + "a" * 300, f"/{ASSET}/%00.m4s", f"/{ASSET}/%ZZ.m4s", f"/{ASSET}/%2e%2e/x")[i % 4]
            assert 400 <= client.get(path).status_code < 500
        fresh = client.get(f"/{ASSET}/360p/seg_00002.m4s", params={"token": _token(None)})
        assert (fresh.status_code, fresh.content) == (200, SEGMENT_BYTES[::-1])
        assert 'vodstack_edge_upstream_circuit_open{node="signed"} 0.0' in client.get("/metrics").text
