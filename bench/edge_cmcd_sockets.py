"""CMCD on the edge's hit path over real loopback sockets: the edge as deployed (its own protocol
under uvicorn, cdn_edge.app.server_options) in a child process pinned to one core, wrk pinned to the
other, fresh memory hits of a segment with and without the CMCD query hls.js sends on every segment.
Reported per case: the edge process's CPU seconds per request (utime + stime from /proc/<pid>/stat
over the run, divided by the requests wrk completed) and req/s; rounds alternate the two, and the
ratios are of the medians. CPU per request moves less with the machine's load than req/s; neither
is load-independent (bench/edge_protocol_cpu.py --cmcd --instructions is).

    .venv/bin/python bench/edge_cmcd_sockets.py [--implementation compiled|python] [--seconds 4] [--rounds 5] \
        [--request chromium|minimal]

--request chromium (the default): wrk sends the headers Debian's Chromium sends with an hls.js segment
request (bench/requests/, one -H each; wrk writes its own Host, the edge's address, and sends the
headers in its Lua table's order, not Chromium's) and the CMCD query it sent; minimal: wrk's own
head (Host only) and the CMCD query written out in bench/edge_protocol_cpu.py.

Two segments: the 256 KiB one of bench/edge_protocol_cpu.py and a ~700 KB one (4 s at the middle
rung, 1.4 Mb/s). Needs wrk and taskset (util-linux) and two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_protocol_cpu import COMMON, REQUEST_KINDS, SID, cmcd_template, request_headers, warm_edge  # noqa: E402  # bench/
from edge_vs_nginx import free_port, pinned  # noqa: E402

from cdn_edge.app import server_options  # noqa: E402
from storage.filesystem import FilesystemObjectStore  # noqa: E402
from tests.cdn_edge.edge_stack import ASSET, SEGMENT  # noqa: E402

MIDDLE = f"{ASSET}/540p/seg_00001.m4s"  # 4 s at 1.4 Mb/s
MIDDLE_BYTES = bytes(range(251)) * 2789  # 700,039 bytes


async def serve(port: int, implementation: str) -> None:
    tmp = Path(tempfile.mkdtemp())
    FilesystemObjectStore(tmp / "objects").ensure_bucket("media")
    app = await warm_edge(tmp, qoe_enabled=True, qoe_implementation=implementation,
                          memory_budget_bytes=64 * 1024 * 1024)  # fmt: skip
    FilesystemObjectStore(tmp / "objects").put_bytes("media", MIDDLE, MIDDLE_BYTES)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **COMMON, **server_options(app))
    print(type(app.state.qoe).__module__, flush=True)
    await uvicorn.Server(config).serve()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def wrk_headers(kind: str) -> list[str]:
    """wrk's -H arguments for a request as `kind` sends it (wrk writes Host itself)."""
    if kind == "minimal":
        return []
    return [f"-H{name}: {value}" for name, value in request_headers(kind, "") if name.lower() != "host"]


def load(url: str, seconds: int, pid: int, headers: list[str]) -> tuple[float, float]:
    """(edge CPU microseconds per request, req/s) of one wrk run on core 1."""
    before = cpu_seconds(pid)
    done = subprocess.run(
        pinned(1, ["wrk", "-t1", "-c8", f"-d{seconds}s", *headers, url]), capture_output=True, text=True, check=True
    )
    used = cpu_seconds(pid) - before
    requests = int(re.search(r"(\d+) requests in", done.stdout).group(1))  # type: ignore[union-attr]
    if "Non-2xx" in done.stdout:
        raise RuntimeError(done.stdout)
    return used / requests * 1e6, requests / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--implementation", choices=("auto", "compiled", "python"), default="auto")
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--request", choices=REQUEST_KINDS, default="chromium", help="the request head wrk sends")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.implementation))
        return
    port = free_port()
    child = subprocess.Popen(
        pinned(0, [sys.executable, __file__, "--serve", str(port), "--implementation", args.implementation]),
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        module = child.stdout.readline().strip()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                for key in (SEGMENT, MIDDLE):
                    for _ in range(5):  # the miss, then the memory tier's store
                        httpx.get(f"{base}/{key}").raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        headers, cmcd = wrk_headers(args.request), cmcd_template(args.request).format(sid=SID)
        print(f"edge CMCD tracker: {module}; {args.rounds} alternating rounds of {args.seconds} s, wrk -t1 -c8, "
              f"--request {args.request} ({len(headers)} headers besides Host)")  # fmt: skip
        print(f"load average before: {os.getloadavg()[0]:.1f}")
        print(f"{'segment':<10} {'CPU us/req none':>16} {'with CMCD':>10} {'ratio':>7} {'req/s none':>11} "
              f"{'with CMCD':>10} {'ratio':>7}")  # fmt: skip
        paired: list[list[float]] = []
        for label, key in (("256 KiB", SEGMENT), ("700 KB", MIDDLE)):
            runs: dict[str, list[tuple[float, float]]] = {"none": [], "cmcd": []}
            urls = {"none": f"{base}/{key}", "cmcd": f"{base}/{key}?{cmcd}"}
            for turn in range(args.rounds):
                # ABBA: each case runs first in half the pairs, so a drift within a pair favours neither
                for case in ("none", "cmcd") if turn % 2 == 0 else ("cmcd", "none"):
                    runs[case].append(load(urls[case], args.seconds, child.pid, headers))
            cpu = {case: statistics.median(r[0] for r in runs[case]) for case in runs}
            rate = {case: statistics.median(r[1] for r in runs[case]) for case in runs}
            print(f"{label:<10} {cpu['none']:>16.1f} {cpu['cmcd']:>10.1f} {cpu['cmcd'] / cpu['none']:>6.3f}x "
                  f"{rate['none']:>11.0f} {rate['cmcd']:>10.0f} {rate['cmcd'] / rate['none']:>6.3f}x")  # fmt: skip
            paired.append([c[1] / n[1] for n, c in zip(runs["none"], runs["cmcd"], strict=True)])
        for (label, _), ratios in zip((("256 KiB", 0), ("700 KB", 0)), paired, strict=True):
            quartiles = statistics.quantiles(ratios, n=4)
            print(
                f"{label}: req/s with CMCD / without, per round pair: median {statistics.median(ratios):.3f}, "
                f"quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f}, range {min(ratios):.3f}-{max(ratios):.3f}"
            )
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        child.terminate()
        child.wait(timeout=30)


if __name__ == "__main__":
    main()
