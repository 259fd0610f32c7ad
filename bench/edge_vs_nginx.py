"""Hit path: one vodstack edge vs two anchors, same origin, same objects: Debian's nginx as a
proxy_cache edge (configured as Debian ships it: sendfile on, tcp_nopush on; plus open_file_cache)
and Varnish (malloc storage, Debian's default VCL pointed at the origin).

Every cache is warmed and checked to answer a hit, then wrk (64 connections, one thread) fetches a
2 MB segment and a 2 KB playlist from each. Each server is pinned to core 0 (nginx with one worker,
like our single uvicorn process; Varnish's threads all on that core) and wrk to core 1, so no
server gets more CPU than another. Prints req/s, MB/s, p99 and the edge's ratio to each anchor.

    .venv/bin/python bench/edge_vs_nginx.py [--seconds 10] [--connections 64] [--server-cpu 0 --wrk-cpu 1]
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
    # As Debian's /etc/nginx/nginx.conf ships them: the kernel copies cached files to the socket.
    sendfile on;
    tcp_nopush on;
    # Cached files' descriptors stay open between hits instead of one open() + fstat() per request.
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
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
# Debian's /etc/varnish/default.vcl with the backend pointed at the origin: Varnish caches by the
# origin's Cache-Control (segments immutable for a year, playlists for their max-age).
VARNISH_VCL = """
vcl 4.1;
backend default {{
    .host = "127.0.0.1";
    .port = "{origin_port}";
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


def pinned(cpu: int | None, argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if cpu is not None else argv


def is_hit(node: str, response: httpx.Response) -> bool:
    if node == "varnish":  # X-Varnish carries two transaction ids on a hit: this one and the storing one
        return len(response.headers.get("x-varnish", "").split()) == 2
    return "hit" in response.headers.get("cache-status", "").lower()


def uvicorn(factory: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    argv = [PYTHON, "-m", "uvicorn", "--app-dir", str(ROOT / "bench"), factory, "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
            "--backlog", "2048"]  # fmt: skip
    return subprocess.Popen(argv, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, cwd=ROOT)


def vodstack_edge(port: int, env: dict[str, str], cpu: int | None) -> subprocess.Popen[bytes]:
    """The edge as deployed (`vodstack serve edge`): uvicorn's command line cannot pass the protocol
    class that answers hits, so the edge is not started like the origin."""
    argv = [PYTHON, "-m", "vodstack", "serve", "edge", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(pinned(cpu, argv), env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, cwd=ROOT)


def varnish(tmp: Path, port: int, origin_port: int, cpu: int | None) -> subprocess.Popen[bytes]:
    """varnishd as Debian's unit starts it (jail user vcache, malloc storage of 256 MB), in the foreground,
    with its own working directory and no management port."""
    vcl = tmp / "default.vcl"
    vcl.write_text(VARNISH_VCL.format(origin_port=origin_port))
    argv = ["varnishd", "-F", "-a", f"127.0.0.1:{port}", "-T", "none", "-f", str(vcl), "-s", "malloc,256m",
            "-n", str(tmp / "varnish")]  # fmt: skip
    if os.geteuid() == 0:
        argv[1:1] = ["-j", "unix,user=vcache"]
    with (tmp / "varnish.log").open("wb") as log:  # its manager narrates start and stop on stderr
        return subprocess.Popen(pinned(cpu, argv), stdout=log, stderr=subprocess.STDOUT)


def wrk(url: str, seconds: int, connections: int, cpu: int | None) -> dict[str, float]:
    out = subprocess.run(
        pinned(cpu, ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]),
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
    parser.add_argument("--server-cpu", type=int, default=0, help="core every server is pinned to (-1: none)")
    parser.add_argument("--wrk-cpu", type=int, default=1, help="core wrk is pinned to (-1: none)")
    args = parser.parse_args()
    server_cpu = args.server_cpu if args.server_cpu >= 0 else None
    wrk_cpu = args.wrk_cpu if args.wrk_cpu >= 0 else None
    sys.path.insert(0, str(ROOT))
    from storage.filesystem import FilesystemObjectStore

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        tmp.chmod(0o755)  # Varnish's unprivileged child reads its working directory inside
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

        origin_port, edge_port, nginx_port, varnish_port = free_port(), free_port(), free_port(), free_port()
        procs = [uvicorn("serve:origin_app", origin_port, {"VODSTACK_ORIGIN_STORAGE__ROOT": str(tmp / "objects")})]
        procs.append(vodstack_edge(edge_port, {
            "VODSTACK_EDGE_NAME": "bench-edge", "VODSTACK_EDGE_UPSTREAM_URL": f"http://127.0.0.1:{origin_port}",
            "VODSTACK_EDGE_DISK_DIR": str(tmp / "edge-cache"), "VODSTACK_EDGE_EVICTION": "s3fifo",
            "VODSTACK_DATA_DIR": str(tmp / "data"),
        }, server_cpu))  # fmt: skip
        conf = tmp / "nginx.conf"
        # As root, nginx's workers would run as nobody and could not enter the private temp directory.
        user = "user root;" if os.geteuid() == 0 else ""
        conf.write_text(NGINX_CONF.format(user=user, tmp=tmp, origin_port=origin_port, port=nginx_port))
        nginx = ["nginx", "-c", str(conf), "-e", str(tmp / "nginx-error.log")]
        procs.append(subprocess.Popen(pinned(server_cpu, nginx)))
        procs.append(varnish(tmp, varnish_port, origin_port, server_cpu))
        try:
            nodes = {
                "edge": f"http://127.0.0.1:{edge_port}",
                "nginx": f"http://127.0.0.1:{nginx_port}",
                "varnish": f"http://127.0.0.1:{varnish_port}",
            }
            for base in [f"http://127.0.0.1:{origin_port}/healthz", *nodes.values()]:
                wait_up(base)
            objects = {"segment 2 MB": "bench/360p/seg_00001.m4s", "playlist 2 KB": "bench/360p/index.m3u8"}
            for name, base in nodes.items():
                for key in objects.values():
                    for _ in range(3):  # miss, store, hit
                        last = httpx.get(f"{base}/{key}").raise_for_status()
                        time.sleep(0.1)
                    if not is_hit(name, last):
                        raise RuntimeError(f"{name} does not answer {key} from its cache: {dict(last.headers)}")
            print(f"load average {os.getloadavg()[0]:.1f}; servers on cpu {server_cpu}, wrk on cpu {wrk_cpu}")
            print(f"wrk -t1 -c{args.connections} -d{args.seconds}s, caches warm (every request a hit)\n")
            print(f"{'object':<14} {'node':<8} {'req/s':>10} {'MB/s':>9} {'p99 ms':>8}")
            for label, key in objects.items():
                result = {
                    name: wrk(f"{base}/{key}", args.seconds, args.connections, wrk_cpu) for name, base in nodes.items()
                }
                for name, r in result.items():
                    print(f"{label:<14} {name:<8} {r['rps']:>10.0f} {r['mbps']:>9.1f} {r['p99_ms']:>8.1f}")
                e = result["edge"]
                for anchor in ("nginx", "varnish"):
                    a = result[anchor]
                    print(f"{label:<14} {'/' + anchor:<8} {e['rps'] / a['rps']:>9.2f}x {e['mbps'] / a['mbps']:>8.2f}x "
                          f"{e['p99_ms'] / a['p99_ms']:>7.2f}x")  # fmt: skip
                print(f"load average {os.getloadavg()[0]:.1f}\n")
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(10)


if __name__ == "__main__":
    main()
