"""`vodstack up`: run the whole stack as child processes on one machine.

Each service is a separate process (as it would be on separate machines), started through
`python -m vodstack serve <service>` with its settings in the environment. The supervisor records
where everything listens in <data dir>/services.json, restarts a child that dies, and stops all of
them on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from storage.settings import persistent_secret

SERVICES_FILE = "services.json"
START_TIMEOUT = 60.0
STOP_GRACE = 15.0
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

    def start(self, log_dir: Path) -> None:
        log = open(log_dir / f"{self.name}.log", "ab")  # noqa: SIM115 - handed to the child
        # Own session: Ctrl-C reaches only the supervisor, which then stops children in order.
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
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


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the supervisor dies, even by SIGKILL (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
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
        children.append(Child(name, argv, dict(base), metrics_url=f"http://{plan.host}:{port}/metrics"))
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
        migrate(CatalogSettings().url)
        for child in self.children:
            child.start(self.log_dir)
        self._wait_healthy()
        self._write_services_file()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        pending = [c for c in self.children if c.health_url]
        while pending:
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
        tmp.write_text(json.dumps(info, indent=2))
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
                child.restarts += 1
                child.start(self.log_dir)
            time.sleep(0.5)

    def stop(self) -> None:
        self.stopping = True
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for child in self.children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
        try:
            self.services_file.unlink()
        except FileNotFoundError:
            pass
