"""Ingest upload throughput against anchors measured in the same run (run by hand, as root).

    /work/venv/bin/python bench/ingest_throughput.py [--dir /var/tmp/vodstack-bench] [--single-gib 1]
        [--concurrent 16] [--concurrent-mib 256] [--backend filesystem]

Scenarios: one 1 GiB upload, and 16 concurrent 256 MiB uploads. Each goes
  - through our TUS server (one uvicorn process: POST, then one streaming PATCH, until the final PATCH
    is answered, which includes staging the original, its sha256 and the content check),
  - to Debian's nginx (one worker, dav module) receiving the same bytes by PUT to the same disk,
  - and as a raw disk write of the same size (Python, 1 MiB writes, one fsync at the end).
The same client (curl, streaming from a file in the page cache) drives both servers. Prints MB/s, the
ratios to nginx and to the raw write, and each server's peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MIB = 1024 * 1024
TOKEN = "bench-token"
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run(["curl", "-s", "-o", "/dev/null", url], check=False).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def peak_rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


def make_source(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size == size:
        return
    block = os.urandom(MIB)
    with open(path, "wb") as f:
        for _ in range(size // MIB):
            f.write(block)
            # Vary every block a little so nothing dedups or compresses.
            block = block[1:] + block[:1]


# -- our server ------------------------------------------------------------------------------------
def serve(data: Path, port: int, backend: str) -> None:
    """Child process: run the ingest app on `port` with everything under `data`."""
    import uvicorn

    from catalog.settings import CatalogSettings
    from ingest.app import create_app
    from ingest.settings import IngestSettings
    from jobs.settings import BrokerSettings
    from storage.settings import StorageSettings

    settings = IngestSettings(
        storage=StorageSettings(backend=backend, root=data / "objects"),  # type: ignore[arg-type]  # validated
        catalog=CatalogSettings(url=f"sqlite:///{data / 'catalog.db'}"),
        broker=BrokerSettings(url="filesystem://", folder=data / "broker"),
        tokens=[TOKEN],
        spool_dir=data / "uploads",
        cleanup_interval_seconds=0,
    )
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def tus_upload(base: str, source: Path, size: int) -> None:
    auth = ["-H", f"Authorization: Bearer {TOKEN}", "-H", "Tus-Resumable: 1.0.0"]
    created = subprocess.run(
        ["curl", "-sS", "-f", "-D", "-", "-o", "/dev/null", "-X", "POST", *auth,
         "-H", f"Upload-Length: {size}", f"{base}/files/"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    location = next(
        line.split(":", 1)[1].strip() for line in created.stdout.splitlines() if line.lower().startswith("location:")
    )
    subprocess.run(
        ["curl", "-sS", "-f", "-o", "/dev/null", "-X", "PATCH", *auth,
         "-H", "Upload-Offset: 0", "-H", "Content-Type: application/offset+octet-stream",
         "-H", "Expect:", "-T", str(source), location],
        check=True,
    )  # fmt: skip


def nginx_put(base: str, source: Path, name: str) -> None:
    subprocess.run(
        ["curl", "-sS", "-f", "-o", "/dev/null", "-H", "Expect:", "-T", str(source), f"{base}/{name}"], check=True
    )


NGINX_CONF = """
user root;
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/store/.tmp;
    client_max_body_size 0;
    client_body_buffer_size 1m;
    server {{
        listen 127.0.0.1:{port};
        root {prefix}/store;
        location / {{
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw;
        }}
    }}
}}
"""


def run_scenario(label: str, count: int, size: int, sources: list[Path], work: Path, backend: str) -> dict:
    results: dict[str, dict[str, float]] = {}
    total_mb = count * size / 1e6

    subprocess.run(["sync"], check=True)  # start every contestant with no dirty pages to flush
    # raw disk write
    raw_dir = work / "raw"
    raw_dir.mkdir()

    def raw_write(i: int) -> None:
        block = sources[i].open("rb")
        with block, open(raw_dir / f"f{i}", "wb") as out:
            while chunk := block.read(MIB):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())

    started = time.perf_counter()
    with ThreadPoolExecutor(count) as pool:
        list(pool.map(raw_write, range(count)))
    results["raw write"] = {"seconds": time.perf_counter() - started}
    shutil.rmtree(raw_dir)

    subprocess.run(["sync"], check=True)
    # nginx
    prefix = work / "nginx"
    (prefix / "store" / ".tmp").mkdir(parents=True)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=prefix, port=port))
    nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(prefix)])
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/")
        started = time.perf_counter()
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda i: nginx_put(base, sources[i], f"f{i}"), range(count)))
        elapsed = time.perf_counter() - started
        children = subprocess.run(["pgrep", "-P", str(nginx.pid)], capture_output=True, text=True).stdout
        results["nginx PUT"] = {"seconds": elapsed, "rss": peak_rss_mib([nginx.pid, *map(int, children.split())])}
        # nginx acknowledges bytes still in the page cache; we fsync before acknowledging. This anchor
        # adds the time to make nginx's files durable, the like-for-like comparison.
        for i in range(count):
            fd = os.open(prefix / "store" / f"f{i}", os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        results["nginx PUT+fsync"] = {"seconds": time.perf_counter() - started}
    finally:
        nginx.terminate()
        nginx.wait()
    shutil.rmtree(prefix)

    subprocess.run(["sync"], check=True)
    # our server
    data = work / "ingest"
    data.mkdir()
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(data), str(port), backend], cwd=ROOT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz")
        started = time.perf_counter()
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda i: tus_upload(base, sources[i], size), range(count)))
        elapsed = time.perf_counter() - started
        results["vodstack TUS"] = {"seconds": elapsed, "rss": peak_rss_mib([server.pid])}
    finally:
        server.terminate()
        server.wait()
    shutil.rmtree(data)

    print(f"\n{label}: {count} x {size // MIB} MiB")
    print(f"  {'':16} {'MB/s':>8} {'x nginx':>8} {'x nginx+fsync':>14} {'x raw':>7} {'peak RSS':>10}")
    for r in results.values():
        r["mbps"] = total_mb / r["seconds"]
    for name, r in results.items():
        rss = f"{r['rss']:.0f} MiB" if "rss" in r else ""
        print(
            f"  {name:16} {r['mbps']:8.0f} {r['mbps'] / results['nginx PUT']['mbps']:8.2f}"
            f" {r['mbps'] / results['nginx PUT+fsync']['mbps']:14.2f}"
            f" {r['mbps'] / results['raw write']['mbps']:7.2f} {rss:>10}"
        )
    return {"label": label, "count": count, "size": size, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp/vodstack-bench"))
    parser.add_argument("--single-gib", type=float, default=1.0)
    parser.add_argument("--concurrent", type=int, default=16)
    parser.add_argument("--concurrent-mib", type=int, default=256)
    parser.add_argument("--backend", default="filesystem", choices=["filesystem"])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: nginx is started with `user root` on a temporary config")
    args.dir.mkdir(parents=True, exist_ok=True)
    single = int(args.single_gib * 1024) * MIB
    big = args.dir / "source-single"
    make_source(big, single)
    small = [args.dir / f"source-{i}" for i in range(args.concurrent)]
    for path in small:
        make_source(path, args.concurrent_mib * MIB)
    figures = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        for label, count, size, sources in [
            ("single upload", 1, single, [big]),
            ("concurrent uploads", args.concurrent, args.concurrent_mib * MIB, small),
        ]:
            scenario_dir = work / label.replace(" ", "-")
            scenario_dir.mkdir()
            figures.append(run_scenario(label, count, size, sources, scenario_dir, args.backend))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    print(
        textwrap.dedent("""
        raw write: Python, 1 MiB writes + fsync. nginx: 1 worker, dav PUT (acknowledged before the
        bytes are durable); nginx PUT+fsync: the same, until its files are fsynced.
        vodstack: 1 uvicorn process; fsync before every acknowledged offset; includes completion
        (staging object + sha256 + content check).""")
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        sys.path.insert(0, str(ROOT))
        serve(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        main()
