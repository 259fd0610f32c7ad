"""CPU per fresh memory hit: the edge's own HTTP protocol (cdn_edge.protocol) against uvicorn's stock
httptools protocol serving the same app (where FastHits answers the hit inside the ASGI app), in one
process, no sockets: requests fed to data_received(), answers written to a counting transport.

CPU time per request (time.process_time) moves far less with the machine's load than wrk's req/s,
so this compares two commits on a busy machine (run it from each checkout, same session).

    .venv/bin/python bench/edge_protocol_cpu.py [--requests 5000] [--rounds 7]

With --cmcd, the cost of viewer QoE (cdn_edge/qoe.py) on the edge protocol's hit path instead: the
same hit with the CMCD query hls.js sends on every segment (anchor: the hit without it), on an edge
that follows every session (one session) and on one that samples one session in --one-in (requests
spread over --sessions sessions); and a hit without CMCD on an edge with QoE on against one with QoE
off (what every other request pays). CPU time moves with the machine's load; --instructions also
counts instructions per request with valgrind's callgrind (one process per case, the slope
between two request counts, so start-up cancels out), which a busy machine does not change.

    .venv/bin/python bench/edge_protocol_cpu.py --cmcd [--one-in 16] [--sessions 1000] [--instructions]

--request chromium (the default) sends the head Debian's Chromium sends for an hls.js segment request to
an edge on another origin (bench/requests/, Host rewritten to the edge's) and, with --cmcd, the CMCD query
it sent (session id replaced); --request minimal the head wrk sends and the CMCD query written out below.
--cmcd's "plain-long" case is the plain hit with the CMCD case's "?CMCD=..." appended to a header the edge
never reads (Referer; User-Agent with --request minimal): as many bytes for llhttp, nothing for CMCD, so
CMCD / plain splits into plain-long / plain (a longer request, whatever it carries) and CMCD / plain-long
(the CMCD work proper).
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
from typing import Any

import httpx
import uvicorn
from uvicorn.server import ServerState

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cdn_edge.app import create_app, server_options  # noqa: E402
from tests.cdn_edge.edge_stack import PLAYLIST, SEGMENT, edge_settings, make_origin  # noqa: E402


class CountingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = 0

    def write(self, data: Any) -> None:
        self.written += len(data)

    def writelines(self, data: Any) -> None:
        for piece in data:
            self.written += len(piece)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5555), "sockname": ("127.0.0.1", 80)}.get(name, default)


# What hls.js 1.7 sends with a media segment (its CMCD keys, percent-encoded as it does): --request minimal's.
HLS_JS_CMCD = (
    "CMCD=bl%3D12000%2Cbr%3D730%2Ccid%3D%22a1b2c3%22%2Cd%3D2000%2Cdl%3D12000%2Cmtp%3D48000%2C"
    "nor%3D%22seg_00002.m4s%22%2Cot%3Dv%2Csf%3Dh%2Csid%3D%22{sid}%22%2Cst%3Dv%2Ctb%3D1400"
)
SID = "48c4ee54-2a2b-4a6c-9b3e-5b1f0c8d7e61"


REQUESTS = ROOT / "bench" / "requests"  # heads as captured by bench/capture_chromium_request.py
REQUEST_KINDS = ("chromium", "minimal")
# The header whose value "plain-long" lengthens: one the edge never reads.
PADDED = {"chromium": "referer", "minimal": "user-agent"}


def request_headers(kind: str, host: str) -> list[tuple[str, str]]:
    """The headers of a segment request as `kind` sends it, Host set to `host`, in the sender's order."""
    if kind == "minimal":
        return [("Host", host), ("User-Agent", "wrk")]
    lines = (REQUESTS / "chromium_hls_segment.http").read_bytes().decode("latin-1").split("\r\n")
    pairs = [line.split(": ", 1) for line in lines[1 : lines.index("")]]
    return [(name, host if name.lower() == "host" else value) for name, value in pairs]


def cmcd_template(kind: str) -> str:
    """The CMCD query `kind` sends with a segment, its session id as `{sid}`."""
    if kind == "minimal":
        return HLS_JS_CMCD
    line = (REQUESTS / "chromium_hls_segment_cmcd.http").read_bytes().decode("latin-1").split("\r\n", 1)[0]
    query = line.split(" ")[1].split("?", 1)[1]
    return re.sub(r"(sid%3D%22)[^%]+(%22)", r"\1{sid}\2", query)


def hls_js_queries(sessions: int, kind: str = "chromium") -> list[str]:
    """The query of one segment request from each of `sessions` players (UUID-like sids)."""
    return [cmcd_template(kind).format(sid=f"{i:08x}{SID[8:]}") for i in range(sessions)]


def request_heads(key: str, kind: str, queries: list[str] | None, pad: bool = False) -> list[bytes]:
    """One head per query (none: one head, no query). pad: no query in the target, each "?" + query
    appended to the value of PADDED[kind] instead (as many bytes, and no CMCD for the edge)."""
    headers = request_headers(kind, "edge")
    heads = []
    for query in queries or (None,):
        target, values = f"/{key}", headers
        if query is not None and pad:
            values = [(n, v + "?" + query if n.lower() == PADDED[kind] else v) for n, v in headers]
        elif query is not None:
            target += "?" + query
        block = "".join(f"{name}: {value}\r\n" for name, value in values)
        heads.append(f"GET {target} HTTP/1.1\r\n{block}\r\n".encode("latin-1"))
    return heads


async def per_request(config: uvicorn.Config, heads: list[bytes], requests: int, rounds: int) -> float:
    """Median over rounds of CPU microseconds per request on one keep-alive connection, the
    requests' heads taken in turn from `heads`."""
    if not config.loaded:
        config.load()  # resolves the http= setting to a class
    state = ServerState()
    state.default_headers = [(b"date", b"Mon, 30 Nov 2026 01:00:00 GMT"), (b"server", b"uvicorn")]
    protocol = config.http_protocol_class(config=config, server_state=state, app_state={})  # type: ignore[call-arg]
    transport = CountingTransport()
    protocol.connection_made(transport)
    # The same loop for every case (anchor included): one list index per request.
    turns = [heads[i % len(heads)] for i in range(requests)]
    results = []
    for _ in range(rounds):
        started = time.process_time()
        for request in turns:
            before = transport.written
            protocol.data_received(request)
            while transport.written == before:  # an answer through the app takes a few loop turns
                await asyncio.sleep(0)
        results.append((time.process_time() - started) / requests * 1e6)
    protocol.connection_lost(None)
    return statistics.median(results)


async def warm_edge(tmp: Path, **settings: Any) -> Any:
    """An edge over a real origin (in process) whose memory tier holds PLAYLIST and SEGMENT."""
    origin = make_origin(tmp)
    app = create_app(
        edge_settings(tmp, "edge", "edge", "http://origin", **settings), transport=httpx.ASGITransport(app=origin)
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edge") as client:
        for key in (PLAYLIST, SEGMENT):
            for _ in range(50):  # the memory tier stores after the miss is answered
                (await client.get(f"/{key}")).raise_for_status()
                if key in app.state.node.cache.memory.entries:
                    break
                await asyncio.sleep(0.02)
    return app


COMMON: dict[str, Any] = {"proxy_headers": False, "lifespan": "off", "access_log": False, "log_level": "warning"}
# --cmcd's cases: (edge's QoE settings, queries of the requests); the ratios pair them as printed.
CASES = ("plain", "plain-long", "cmcd-all", "plain-sampled", "cmcd-sampled", "plain-qoe-off")


def case_setup(case: str, args: argparse.Namespace) -> tuple[dict[str, Any], list[bytes]]:
    on = {"qoe_enabled": True, "qoe_implementation": args.implementation}
    sampled = {**on, "qoe_sample_one_in": args.one_in}
    one, many = hls_js_queries(1, args.request), hls_js_queries(args.sessions, args.request)
    settings, queries, pad = {
        "plain": (on, None, False),
        "plain-long": (on, one, True),
        "cmcd-all": (on, one, False),
        "plain-sampled": (sampled, None, False),
        "cmcd-sampled": (sampled, many, False),
        "plain-qoe-off": ({"qoe_enabled": False}, None, False),
    }[case]
    return settings, request_heads(SEGMENT, args.request, queries, pad)


TRACKERS: set[str] = set()  # the modules of the CMCD trackers the cases ran


async def run_case(case: str, args: argparse.Namespace, tmp: Path) -> float:
    settings, heads = case_setup(case, args)
    app = await warm_edge(tmp / case, **settings)
    if app.state.qoe is not None:
        TRACKERS.add(type(app.state.qoe).__module__)
    config = uvicorn.Config(app, **COMMON, **server_options(app))
    answered = app.state.hits.direct
    cpu = await per_request(config, heads, args.requests, args.rounds)
    # Every request a fresh memory hit answered by the protocol itself, and CMCD counted only where sent
    # (the anchors must take the same path as the CMCD cases, not the app's).
    if app.state.hits.direct - answered != args.requests * args.rounds:
        raise RuntimeError(
            f"{case}: {app.state.hits.direct - answered} of {args.requests * args.rounds} answered directly"
        )
    if app.state.qoe is not None:
        # What a scrape does: the work the tracker defers from the hit path (watch time, rungs, the mtp
        # histogram's bucket counts: O(buckets) a scrape) is done here, inside --instructions' count.
        app.state.qoe.flush()
        counted = sum(s.value for m in app.state.qoe.metrics.media_requests.collect() for s in m.samples
                      if s.name.endswith("_total"))  # fmt: skip
        if (counted > 0) != case.startswith("cmcd"):
            raise RuntimeError(f"{case}: {counted} media requests counted from CMCD")
    return cpu


def instructions(case: str, args: argparse.Namespace) -> float:
    """Instructions per request of `case`, counted by valgrind's callgrind (exact, whatever the load):
    two runs in fresh processes (500 and 500 + --instr-requests requests, one round), the difference
    divided by --instr-requests, so start-up cancels out. PYTHONHASHSEED fixed: the same sessions
    are followed in both runs."""
    counts = []
    for requests in (500, 500 + args.instr_requests):
        argv = [sys.executable, __file__, "--cmcd", "--only", case, "--rounds", "1", "--requests", str(requests),
                "--one-in", str(args.one_in), "--sessions", str(args.sessions),
                "--implementation", args.implementation, "--request", args.request]  # fmt: skip
        grind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(grind, capture_output=True, text=True, check=True, env=env)
        line = next(line for line in done.stderr.splitlines() if "Collected :" in line)
        counts.append(int(line.split(":")[1]))
    return (counts[1] - counts[0]) / args.instr_requests


async def cmcd_cost(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp())
    if args.only:
        await run_case(args.only, args, tmp)
        return
    cpu = {case: await run_case(case, args, tmp) for case in CASES}
    counted = {case: instructions(case, args) for case in CASES} if args.instructions else {}
    print(f"Per fresh memory hit of a segment (edge protocol); CPU: median of {args.rounds} rounds of {args.requests}")
    print(f"sampling edge: 1 session in {args.one_in} followed, requests spread over {args.sessions} sessions")
    print(f"CMCD tracker: {', '.join(sorted(TRACKERS))} (--implementation {args.implementation})")
    heads = {case: case_setup(case, args)[1][0] for case in ("plain", "plain-long", "cmcd-all")}
    print(f"request heads (--request {args.request}): " + ", ".join(f"{c} {len(h)} bytes" for c, h in heads.items()))
    print(f"{'':<56} {'anchor':>9} {'measured':>9} {'ratio':>7}")
    for label, measured, anchor in (
        ("(a) hls.js CMCD / none, every session followed", "cmcd-all", "plain"),
        ("(b) as long, no CMCD / none (bytes alone)", "plain-long", "plain"),
        ("(c) hls.js CMCD / as long, no CMCD (CMCD alone)", "cmcd-all", "plain-long"),
        ("hls.js CMCD / none, sampling edge", "cmcd-sampled", "plain-sampled"),
        ("no CMCD: QoE on / QoE off", "plain", "plain-qoe-off"),
    ):
        for unit, values, digits in (("CPU us", cpu, 2), ("instr.", counted, 0)):
            if values:
                a, m = values[anchor], values[measured]
                print(f"{label + ', ' + unit:<56} {a:>9.{digits}f} {m:>9.{digits}f} {m / a:>6.3f}x")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cmcd", action="store_true", help="the cost of CMCD / QoE on the hit path instead")
    parser.add_argument("--one-in", type=int, default=16, help="--cmcd: the sampling edge follows 1 session in N")
    parser.add_argument("--sessions", type=int, default=1000, help="--cmcd: players the sampling edge sees")
    parser.add_argument("--instructions", action="store_true", help="--cmcd: also count instructions (callgrind)")
    parser.add_argument("--instr-requests", type=int, default=2000, help="--instructions: requests counted")
    parser.add_argument(
        "--implementation", choices=("auto", "compiled", "python"), default="auto",
        help="--cmcd: the edge's CMCD tracker (VODSTACK_EDGE_QOE_IMPLEMENTATION)",
    )  # fmt: skip
    parser.add_argument(
        "--request", choices=REQUEST_KINDS, default="chromium",
        help="the request head: as Chromium sends an hls.js segment request (bench/requests/), or as wrk does",
    )  # fmt: skip
    parser.add_argument("--only", choices=CASES, help=argparse.SUPPRESS)  # one case, for --instructions
    args = parser.parse_args()
    if args.cmcd:
        await cmcd_cost(args)
        return
    tmp = Path(tempfile.mkdtemp())
    app = await warm_edge(tmp, qoe_enabled=True)
    ours = uvicorn.Config(app, **COMMON, **server_options(app))
    stock = uvicorn.Config(app, **COMMON, http="httptools")
    print(f"CPU us per fresh memory hit, median of {args.rounds} rounds of {args.requests} requests")
    print(f"{'object':<16} {'stock+FastHits':>15} {'edge protocol':>14} {'ratio':>7}")
    for label, key in (("playlist", PLAYLIST), ("segment", SEGMENT)):
        heads = request_heads(key, args.request, None)
        anchor = await per_request(stock, heads, args.requests, args.rounds)
        own = await per_request(ours, heads, args.requests, args.rounds)
        print(f"{label:<16} {anchor:>15.2f} {own:>14.2f} {own / anchor:>6.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
