"""Hit path with per-client rate limiting on vs off: two vodstack edges as deployed, same origin, same
2 KB playlist, warmed; one with VODSTACK_EDGE_RATE_LIMIT_PER_CLIENT set (high enough that nothing is
refused: the cost of counting, not of refusing), one without. Both trust 127.0.0.1 as a proxy and wrk
sends X-Forwarded-For from 1,000 client addresses, so the limited edge keeps 1,000 budgets. Rounds
alternate off/on so load from elsewhere on the machine hits both alike; prints req/s per round and
the on/off ratio of each round and the median of those.

    /work/venv/bin/python bench/edge_ratelimit.py [--seconds 5] [--rounds 3] [--connections 64]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from edge_vs_nginx import ROOT, free_port, uvicorn, vodstack_edge, wait_up  # noqa: E402

sys.path.insert(0, str(ROOT))
from storage.filesystem import FilesystemObjectStore  # noqa: E402

PLAYLIST = "bench/360p/index.m3u8"
CLIENTS_LUA = """
local n = 0
request = function()
    n = n + 1
    local i = n % 1000
    return wrk.format(nil, nil, {["X-Forwarded-For"] = "198.51." .. (i // 250) .. "." .. (i % 250)})
end
"""


def wrk(url: str, seconds: int, connections: int, script: Path) -> float:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if errors := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise RuntimeError(f"{url}: {errors.group(1)} error responses\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def publish(root: Path) -> None:
    """A 2 KB VOD playlist in a filesystem store at `root`."""
    store = FilesystemObjectStore(root)
    store.ensure_bucket("media")
    entries = "".join(f"#EXTINF:4.000,\nseg_{i:05d}.m4s\n" for i in range(1, 70))
    header = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    store.put_bytes("media", PLAYLIST, f"{header}{entries}#EXT-X-ENDLIST\n".encode())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        publish(tmp / "objects")
        script = tmp / "clients.lua"
        script.write_text(CLIENTS_LUA)

        origin_port = free_port()
        procs = [uvicorn("serve:origin_app", origin_port, {"VODSTACK_ORIGIN_STORAGE__ROOT": str(tmp / "objects")})]
        nodes: dict[str, str] = {}
        for name, limit in (("off", ""), ("on", "100000000/hour")):
            port = free_port()
            env = {
                "VODSTACK_EDGE_NAME": f"edge-{name}", "VODSTACK_EDGE_UPSTREAM_URL": f"http://127.0.0.1:{origin_port}",
                "VODSTACK_EDGE_DISK_DIR": str(tmp / f"cache-{name}"), "VODSTACK_DATA_DIR": str(tmp / "data"),
                "VODSTACK_EDGE_TRUSTED_PROXIES": '["127.0.0.1/32"]', "VODSTACK_EDGE_RATE_LIMIT_PER_CLIENT": limit,
            }  # fmt: skip
            procs.append(vodstack_edge(port, env))
            nodes[name] = f"http://127.0.0.1:{port}"
        try:
            for base in [f"http://127.0.0.1:{origin_port}/healthz", *nodes.values()]:
                wait_up(base)
            for base in nodes.values():
                for _ in range(3):  # miss, store, hit
                    httpx.get(f"{base}/{PLAYLIST}").raise_for_status()
                    time.sleep(0.1)
                limited = httpx.get(f"{base}/{PLAYLIST}").headers
                assert "ratelimit" not in limited  # hits carry no rate-limit fields: refusals do
            print(f"wrk -t2 -c{args.connections} -d{args.seconds}s, 2 KB playlist, warm, 1,000 client addresses\n")
            rates: dict[str, list[float]] = {"off": [], "on": []}
            ratios: list[float] = []  # each round's pair was measured back to back: the steadiest figure
            for round_ in range(args.rounds):
                for name in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
                    rates[name].append(wrk(f"{nodes[name]}/{PLAYLIST}", args.seconds, args.connections, script))
                ratios.append(rates["on"][-1] / rates["off"][-1])
                print(f"round {round_ + 1}: off {rates['off'][-1]:.0f} req/s, on {rates['on'][-1]:.0f} req/s, "
                      f"on/off {ratios[-1]:.2f}x")  # fmt: skip
            off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
            print(f"\nmedians: off {off:.0f} req/s, on {on:.0f} req/s ({on / off:.2f}x); "
                  f"median of the rounds' on/off: {statistics.median(ratios):.2f}x (target >= 0.9x)")  # fmt: skip
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)


if __name__ == "__main__":
    main()
