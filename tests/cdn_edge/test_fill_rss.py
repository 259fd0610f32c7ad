"""Twenty 200 MB objects filled at once through a cache node (real uvicorn processes: the node as
`vodstack serve edge`, an upstream generating its bytes) keep the node's peak RSS under 300 MB: bodies
stream through a file beside the disk tier, never whole in memory."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.cdn_edge.generated_upstream import BLOCK
from vodstack.supervisor import free_port

MB = 1000 * 1000
OBJECTS = 20
SIZE = 200 * MB
PEAK_RSS_LIMIT = 300 * MB
DEADLINE = 420.0  # seconds for the whole run: 4 GB through loopback and the disk on a loaded machine


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


@contextmanager
def _process(argv: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, env={**os.environ, **env}, cwd=Path(__file__).parents[2])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{argv} did not start") from None
                time.sleep(0.05)  # polling a starting process, not timing a behaviour
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


async def _fetch_all(url: str) -> list[tuple[int, int, bool]]:
    async def one(i: int) -> tuple[int, int, bool]:
        async with httpx.AsyncClient(timeout=120) as c, c.stream("GET", f"{url}/gen/{SIZE}/{i}.bin") as r:
            received, head = 0, b""
            async for chunk in r.aiter_raw():
                if len(head) < len(BLOCK):
                    head += chunk[: len(BLOCK) - len(head)]
                received += len(chunk)
            return r.status_code, received, head == BLOCK

    return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(OBJECTS))), DEADLINE)


def test_twenty_large_fills_at_once_keep_rss_bounded(tmp_path: Path) -> None:
    up_port, edge_port = free_port(), free_port()
    upstream = [sys.executable, "-m", "tests.cdn_edge.generated_upstream", str(up_port)]
    node = [sys.executable, "-m", "vodstack", "serve", "edge", "--port", str(edge_port)]
    env = {
        "VODSTACK_DATA_DIR": str(tmp_path / "data"),
        "VODSTACK_EDGE_NAME": "edge",
        "VODSTACK_EDGE_ROLE": "shield",  # no playback tokens: the fill path is the same
        "VODSTACK_EDGE_UPSTREAM_URL": f"http://127.0.0.1:{up_port}",
        "VODSTACK_EDGE_DISK_DIR": str(tmp_path / "cache"),
        # Smaller than the 4 GB filled: completed bodies evict earlier ones, as on a real edge.
        "VODSTACK_EDGE_DISK_BUDGET_BYTES": str(1024 * MB),
        "VODSTACK_EDGE_MAX_CONCURRENT_FILLS": str(OBJECTS),
        "VODSTACK_EDGE_UPSTREAM_READ_TIMEOUT": "120",
    }
    try:
        with _process(upstream, {}, up_port), _process(node, env, edge_port) as edge:
            results = asyncio.run(_fetch_all(f"http://127.0.0.1:{edge_port}"))
            peak = _peak_rss(edge.pid)
    finally:
        shutil.rmtree(tmp_path / "cache", ignore_errors=True)  # a gigabyte pytest would otherwise keep
    assert results == [(200, SIZE, True)] * OBJECTS
    assert peak < PEAK_RSS_LIMIT, f"peak RSS {peak / MB:.0f} MB filling {OBJECTS} x {SIZE // MB} MB"
    print(f"edge peak RSS {peak / MB:.0f} MB for {OBJECTS} fills of {SIZE // MB} MB")
