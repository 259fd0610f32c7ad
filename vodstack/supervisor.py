"""`vodstack up`: run the whole stack as child processes on one machine.

Each service is a separate process (as it would be on separate machines), started through
`python -m vodstack serve <service>` with its settings in the environment. The supervisor records
where everything listens in <data dir>/services.json (mode 0600: it holds the upload token),
restarts a child that dies, and stops all of them on Ctrl-C or SIGTERM, promptly: workers get
Celery's cold shutdown (their running jobs are stopped, not finished in the background, and run
again by the next worker's sweeper), and whatever is left in a child's process group after it
exits (an ffmpeg whose worker died) is killed.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from storage.settings import persistent_secret

SERVICES_FILE = "services.json"
START_TIMEOUT = 60.0
STOP_GRACE = 10.0
# A child that keeps crashing is restarted at most this often.
RESTART_BACKOFF = 2.0
PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    health_url: str | None = None
    metrics_url: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    last_start: float = 0.0
    # What stops it, from us or (PR_SET_PDEATHSIG) from the kernel when we die. A Celery worker
    # takes SIGTERM as "finish the running jobs first", which can take an hour: SIGQUIT is its cold
    # shutdown (running jobs stopped; acks_late leaves them to be run again).
    stop_signal: signal.Signals = signal.SIGTERM

    def start(self, log_dir: Path) -> None:
        log = open(log_dir / f"{self.name}.log", "ab")  # noqa: SIM115 - handed to the child
        # Own session: Ctrl-C reaches only the supervisor, which then stops children in order.
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=functools.partial(_die_with_parent, self.stop_signal),
        )
        log.close()
        self.last_start = time.monotonic()


@dataclass
class StackPlan:
    data_dir: Path
    host: str
    ports: dict[str, int]
    workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://{self.host}:{self.ports[service]}"


def _die_with_parent(sig: signal.Signals) -> None:
    """In the child before exec: get `sig` if the supervisor dies, even by SIGKILL (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig)
    except (OSError, AttributeError):
        pass  # not Linux: children then outlive a killed supervisor


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def plan_children(plan: StackPlan) -> list[Child]:
    base = {**os.environ, **plan.extra_env, "VODSTACK_DATA_DIR": str(plan.data_dir), "PYTHONUNBUFFERED": "1"}
    # One playback-signing secret for ingest (signs), origin (says which assets need it) and edges
    # (verify); assets are public unless marked otherwise in the catalog.
    secret = base.get("VODSTACK_SIGNING_SECRET") or persistent_secret(plan.data_dir / "signing-secret")
    for var in ("VODSTACK_INGEST_SIGNING_SECRET", "VODSTACK_ORIGIN_SIGNING_SECRET", "VODSTACK_EDGE_SIGNING_SECRET"):
        base.setdefault(var, secret)
    base.setdefault("VODSTACK_ORIGIN_ACCESS", "catalog")
    # Deleting an asset purges the shield, then the edge (ingest tries at once, the workers retry).
    purge_token = base.get("VODSTACK_PURGE_TOKEN") or persistent_secret(plan.data_dir / "purge-token")
    base.setdefault("VODSTACK_PURGE_TOKEN", purge_token)
    base.setdefault("VODSTACK_EDGE_PURGE_TOKEN", purge_token)
    base.setdefault("VODSTACK_PURGE_TARGETS", json.dumps([plan.url("shield"), plan.url("edge")]))
    py = [sys.executable, "-m", "vodstack"]

    def serve(name: str, service: str, env: dict[str, str]) -> Child:
        argv = [*py, "serve", service, "--host", plan.host, "--port", str(plan.ports[name])]
        return Child(name, argv, {**base, **env}, health_url=f"{plan.url(name)}/healthz")

    children = [
        serve("ingest", "ingest", {"VODSTACK_INGEST_PLAYBACK_BASE_URL": plan.url("edge")}),
        serve("origin", "origin", {}),
        serve(
            "shield",
            "edge",
            {
                "VODSTACK_EDGE_NAME": "shield",
                "VODSTACK_EDGE_ROLE": "shield",
                "VODSTACK_EDGE_UPSTREAM_URL": plan.url("origin"),
            },
        ),
        serve(
            "edge",
            "edge",
            {
                "VODSTACK_EDGE_NAME": "edge-1",
                "VODSTACK_EDGE_ROLE": "edge",
                "VODSTACK_EDGE_UPSTREAM_URL": plan.url("shield"),
            },
        ),
    ]
    for i in range(plan.workers):
        name, port = f"worker-{i + 1}", free_port(plan.host)
        argv = [*py, "worker", "--name", name, "--metrics-port", str(port), "--metrics-host", plan.host]
        if i == 0:
            argv.append("--beat")
        children.append(
            Child(name, argv, dict(base), metrics_url=f"http://{plan.host}:{port}/metrics", stop_signal=signal.SIGQUIT)
        )
    return children


class Supervisor:
    def __init__(self, plan: StackPlan) -> None:
        self.plan = plan
        self.children = plan_children(plan)
        self.log_dir = plan.data_dir / "logs"
        self.stopping = False

    @property
    def services_file(self) -> Path:
        return self.plan.data_dir / SERVICES_FILE

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # Apply migrations once, before several processes race to do it.
        from catalog.session import migrate
        from catalog.settings import CatalogSettings

        os.environ["VODSTACK_DATA_DIR"] = str(self.plan.data_dir)
        os.environ.update(self.plan.extra_env)
        url = CatalogSettings().url
        _private_sqlite_file(url)
        migrate(url)
        for child in self.children:
            if self.stopping:
                return
            child.start(self.log_dir)
        self._wait_healthy()
        if not self.stopping:
            self._write_services_file()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        pending = [c for c in self.children if c.health_url]
        while pending and not self.stopping:
            for child in list(pending):
                if child.proc is not None and child.proc.poll() is not None:
                    raise RuntimeError(
                        f"{child.name} exited with {child.proc.returncode} while starting; "
                        f"see {self.log_dir / (child.name + '.log')}"
                    )
                try:
                    if httpx.get(child.health_url, timeout=1.0).status_code == 200:  # type: ignore[arg-type]
                        pending.remove(child)
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                names = ", ".join(c.name for c in pending)
                raise RuntimeError(f"not healthy after {START_TIMEOUT:.0f} s: {names}; logs in {self.log_dir}")
            time.sleep(0.2)

    def _write_services_file(self) -> None:
        from ingest.settings import IngestSettings, dev_token

        info = {
            "pid": os.getpid(),
            "data_dir": str(self.plan.data_dir),
            "ingest": self.plan.url("ingest"),
            "tus": f"{self.plan.url('ingest')}/files/",
            "origin": self.plan.url("origin"),
            "shield": self.plan.url("shield"),
            "edge": self.plan.url("edge"),
            "token": dev_token(IngestSettings()),
            "workers": [c.name for c in self.children if c.name.startswith("worker")],
            "worker_metrics": {c.name: c.metrics_url for c in self.children if c.metrics_url},
            "logs": str(self.log_dir),
        }
        tmp = self.services_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # also when a stale tmp file had another mode
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(info, indent=2))
        os.replace(tmp, self.services_file)

    def watch(self) -> None:
        """Restart children that die, until stop() is called."""
        while not self.stopping:
            for child in self.children:
                if self.stopping or child.proc is None or child.proc.poll() is None:
                    continue
                if time.monotonic() - child.last_start < RESTART_BACKOFF:
                    continue
                print(f"vodstack: {child.name} exited ({child.proc.returncode}); restarting", flush=True)
                _kill_group(child.proc.pid)  # what the dead one left running (its ffmpeg)
                child.restarts += 1
                child.start(self.log_dir)
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop every child within STOP_GRACE seconds, then kill whatever is left in their process
        groups, and remove services.json."""
        self.stopping = True
        try:
            self.services_file.unlink()  # first: a stack being stopped is no longer running
        except FileNotFoundError:
            pass
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(child.stop_signal)
        deadline = time.monotonic() + STOP_GRACE
        for child in self.children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
        for child in self.children:
            if child.proc is not None:
                _kill_group(child.proc.pid)


HTTP_SERVICES = ("ingest", "origin", "shield", "edge")


def data_dir_option(data_dir: Path) -> str:
    """ " --data-dir X" for a command line that must reach this data dir from another terminal; ""
    for the default (~/.vodstack), which every command finds without options."""
    default = (Path.home() / ".vodstack").resolve()
    return "" if data_dir.expanduser().resolve() == default else f" --data-dir {shlex.quote(str(data_dir))}"


def services_health(info: dict[str, object], timeout: float = 2.0) -> list[tuple[str, str, bool]]:
    """(service, URL, answers /healthz with 200) for each HTTP service named in services.json."""
    results = []
    for name in HTTP_SERVICES:
        url = info.get(name)
        if not isinstance(url, str):
            continue
        try:
            healthy = httpx.get(f"{url}/healthz", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            healthy = False
        results.append((name, url, healthy))
    return results


def workers_health(info: dict[str, object], timeout: float = 2.0) -> list[tuple[str, str, bool]]:
    """(worker, metrics URL, its exporter answers at all) for each worker in services.json: any HTTP
    answer (a 401 without the metrics token too) means the process lives."""
    metrics = info.get("worker_metrics")
    results = []
    for name, url in metrics.items() if isinstance(metrics, dict) else []:
        try:
            httpx.get(str(url), timeout=timeout)
            alive = True
        except httpx.HTTPError:
            alive = False
        results.append((str(name), str(url), alive))
    return results


def _kill_group(pgid: int) -> None:
    """SIGKILL what remains of a child's process group (its own session, see Child.start): a
    process whose parent died (ffmpeg of a killed pool process) keeps the group."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # nothing left


def _private_sqlite_file(url: str) -> None:
    """The embedded catalog (SQLite) holds every upload and asset: owner-only, like the key files.
    SQLite gives its journal files the database file's mode."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return
    path = Path(parsed.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)
