"""Hit path: one vodstack edge vs Debian's nginx as a proxy_cache edge, same origin, same objects.

Both caches are warmed, then wrk (64 connections, 2 threads) fetches a 2 MB segment and a 2 KB
playlist from each. nginx runs one worker, like our single uvicorn process (one core each on this
2-core machine, the other core is left to wrk). Prints req/s, MB/s, p99 and edge/nginx ratios.

    /work/venv/bin/python bench/edge_vs_nginx.py [--seconds 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
NGINX_CONF = """
{user}
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    proxy_cache_path {tmp}/nginx-cache levels=1:2 keys_zone=media:64m max_size=1g inactive=1h use_temp_path=off;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    upstream origin {{ server 127.0.0.1:{origin_port}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache media;
            proxy_cache_lock on;
            proxy_cache_use_stale error timeout updating;
            proxy_cache_background_update on;
            add_header Cache-Status $upstream_cache_status;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str) -> None:
    for _ in range(200):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def uvicorn(factory: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    argv = [PYTHON, "-m", "uvicorn", "--app-dir", str(ROOT / "bench"), factory, "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
            "--backlog", "2048"]  # fmt: skip
    return subprocess.Popen(argv, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, cwd=ROOT)


def vodstack_edge(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The edge as deployed (`vodstack serve edge`): uvicorn's command line cannot pass the protocol
    class that answers hits, so the edge is not started like the origin."""
    argv = [PYTHON, "-m", "vodstack", "serve", "edge", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(argv, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, cwd=ROOT)


def wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    unit = {"B": 1e-6, "KB": 1e-3, "MB": 1.0, "GB": 1e3}[transfer.group(2)]  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", out)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses\n{out}")
    return {"rps": rps, "mbps": float(transfer.group(1)) * unit * 1.048576, "p99_ms": float(p99.group(1)) * scale}  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from storage.filesystem import FilesystemObjectStore

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        store = FilesystemObjectStore(tmp / "objects")
        store.ensure_bucket("media")
        store.put_bytes("media", "bench/360p/seg_00001.m4s", os.urandom(2 * 1024 * 1024))
        lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:4", "#EXT-X-PLAYLIST-TYPE:VOD",
                 '#EXT-X-MAP:URI="init.mp4"']  # fmt: skip
        for i in range(1, 80):
            lines += ["#EXTINF:4.000,", f"seg_{i:05d}.m4s"]
            if len("\n".join(lines)) > 2000:
                break
        store.put_bytes("media", "bench/360p/index.m3u8", ("\n".join([*lines, "#EXT-X-ENDLIST"]) + "\n").encode())

        origin_port, edge_port, nginx_port = free_port(), free_port(), free_port()
        procs = [uvicorn("serve:origin_app", origin_port, {"VODSTACK_ORIGIN_STORAGE__ROOT": str(tmp / "objects")})]
        procs.append(vodstack_edge(edge_port, {
            "VODSTACK_EDGE_NAME": "bench-edge", "VODSTACK_EDGE_UPSTREAM_URL": f"http://127.0.0.1:{origin_port}",
            "VODSTACK_EDGE_DISK_DIR": str(tmp / "edge-cache"), "VODSTACK_EDGE_EVICTION": "s3fifo",
            "VODSTACK_DATA_DIR": str(tmp / "data"),
        }))  # fmt: skip
        conf = tmp / "nginx.conf"
        # As root, nginx's workers would run as nobody and could not enter the private temp directory.
        user = "user root;" if os.geteuid() == 0 else ""
        conf.write_text(NGINX_CONF.format(user=user, tmp=tmp, origin_port=origin_port, port=nginx_port))
        procs.append(subprocess.Popen(["nginx", "-c", str(conf), "-e", str(tmp / "nginx-error.log")]))
        try:
            nodes = {"edge": f"http://127.0.0.1:{edge_port}", "nginx": f"http://127.0.0.1:{nginx_port}"}
            for base in [f"http://127.0.0.1:{origin_port}/healthz", *nodes.values()]:
                wait_up(base)
            objects = {"segment 2 MB": "bench/360p/seg_00001.m4s", "playlist 2 KB": "bench/360p/index.m3u8"}
            for base in nodes.values():
                for key in objects.values():
                    for _ in range(3):  # miss, store, hit
                        httpx.get(f"{base}/{key}").raise_for_status()
                        time.sleep(0.1)
            print(f"wrk -t2 -c{args.connections} -d{args.seconds}s, caches warm (every request a hit)\n")
            print(f"{'object':<14} {'node':<6} {'req/s':>10} {'MB/s':>9} {'p99 ms':>8}")
            for label, key in objects.items():
                result = {name: wrk(f"{base}/{key}", args.seconds, args.connections) for name, base in nodes.items()}
                for name, r in result.items():
                    print(f"{label:<14} {name:<6} {r['rps']:>10.0f} {r['mbps']:>9.1f} {r['p99_ms']:>8.1f}")
                e, n = result["edge"], result["nginx"]
                print(f"{label:<14} {'ratio':<6} {e['rps'] / n['rps']:>9.2f}x {e['mbps'] / n['mbps']:>8.2f}x "
                      f"{e['p99_ms'] / n['p99_ms']:>7.2f}x\n")  # fmt: skip
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(10)


if __name__ == "__main__":
    main()
