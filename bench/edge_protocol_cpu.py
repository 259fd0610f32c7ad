"""CPU per fresh memory hit: the edge's own HTTP protocol (cdn_edge.protocol) against uvicorn's stock
httptools protocol serving the same app (where FastHits answers the hit inside the ASGI app), in one
process, no sockets: requests fed to data_received(), answers written to a counting transport.

CPU time per request (time.process_time) moves far less with the machine's load than wrk's req/s,
so this compares two commits on a busy machine (run it from each checkout, same session).

    .venv/bin/python bench/edge_protocol_cpu.py [--requests 5000] [--rounds 7]

With --cmcd, the cost of viewer QoE (cdn_edge/qoe.py) on the edge protocol's hit path instead: the
same hit with the CMCD query hls.js sends on every segment (anchor: the hit without it), and a hit
without CMCD on an edge with QoE on against one with QoE off (what every other request pays).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
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


# What hls.js 1.7 sends with a media segment (its CMCD keys, percent-encoded as it does).
HLS_JS_CMCD = (
    "CMCD=bl%3D12000%2Cbr%3D730%2Ccid%3D%22a1b2c3%22%2Cd%3D2000%2Cdl%3D12000%2Cmtp%3D48000%2C"
    "nor%3D%22seg_00002.m4s%22%2Cot%3Dv%2Csf%3Dh%2Csid%3D%2248c4ee54-2a2b-4a6c-9b3e-5b1f0c8d7e61%22%2Cst%3Dv%2Ctb%3D1400"
)


async def per_request(config: uvicorn.Config, key: str, requests: int, rounds: int, query: str = "") -> float:
    """Median over rounds of CPU microseconds per request for `key` on one keep-alive connection."""
    if not config.loaded:
        config.load()  # resolves the http= setting to a class
    state = ServerState()
    state.default_headers = [(b"date", b"Mon, 30 Nov 2026 01:00:00 GMT"), (b"server", b"uvicorn")]
    protocol = config.http_protocol_class(config=config, server_state=state, app_state={})  # type: ignore[call-arg]
    transport = CountingTransport()
    protocol.connection_made(transport)
    target = f"/{key}?{query}" if query else f"/{key}"
    request = f"GET {target} HTTP/1.1\r\nHost: edge\r\nUser-Agent: wrk\r\n\r\n".encode()
    results = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(requests):
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


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cmcd", action="store_true", help="the cost of CMCD / QoE on the hit path instead")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    app = await warm_edge(tmp, qoe_enabled=True)
    common: dict[str, Any] = {"proxy_headers": False, "lifespan": "off", "access_log": False, "log_level": "warning"}
    ours = uvicorn.Config(app, **common, **server_options(app))
    if args.cmcd:
        off = await warm_edge(tmp / "off", qoe_enabled=False)
        without = uvicorn.Config(off, **common, **server_options(off))
        print(f"CPU us per fresh memory hit (edge protocol), median of {args.rounds} rounds of {args.requests}")
        print(f"{'segment hit':<34} {'anchor':>8} {'measured':>9} {'ratio':>7}")
        anchor = await per_request(ours, SEGMENT, args.requests, args.rounds)
        cmcd = await per_request(ours, SEGMENT, args.requests, args.rounds, HLS_JS_CMCD)
        print(f"{'with hls.js CMCD / without':<34} {anchor:>8.2f} {cmcd:>9.2f} {cmcd / anchor:>6.2f}x")
        anchor = await per_request(without, SEGMENT, args.requests, args.rounds)
        plain = await per_request(ours, SEGMENT, args.requests, args.rounds)
        print(f"{'no CMCD: QoE on / QoE off':<34} {anchor:>8.2f} {plain:>9.2f} {plain / anchor:>6.2f}x")
        return
    stock = uvicorn.Config(app, **common, http="httptools")
    print(f"CPU us per fresh memory hit, median of {args.rounds} rounds of {args.requests} requests")
    print(f"{'object':<16} {'stock+FastHits':>15} {'edge protocol':>14} {'ratio':>7}")
    for label, key in (("playlist", PLAYLIST), ("segment", SEGMENT)):
        anchor = await per_request(stock, key, args.requests, args.rounds)
        own = await per_request(ours, key, args.requests, args.rounds)
        print(f"{label:<16} {anchor:>15.2f} {own:>14.2f} {own / anchor:>6.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
