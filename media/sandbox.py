"""Running work on untrusted media in a child process that cannot outlive, outspend or rob its owner.

Every child (ffmpeg, the probe) gets:

- its own process group, and the whole group is killed (SIGKILL) on timeout, on cancel and when its
  owner stops waiting for it: nothing it started survives it;
- PR_SET_PDEATHSIG (Linux): the kernel kills it when the thread that started it dies, even by SIGKILL;
- a wall-clock watchdog, a thread of its own, so the limit fires whether the child prints or not;
- RLIMIT_CPU and RLIMIT_AS from `resource`, and RLIMIT_CORE 0 (a crashing decoder dumps nothing);
- an environment built from an allow-list: no VODSTACK_* settings, tokens, storage or cloud keys.

Limits are applied in `preexec_fn` with values computed before the fork, and prctl is resolved in the
parent: the child between fork and exec only makes system calls.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import re
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

PR_SET_PDEATHSIG = 1
# Variables a media child may inherit; everything else (VODSTACK_*, AWS_*, MINIO_*, tokens) stays behind.
ENV_ALLOWED = frozenset(
    {"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "PYTHONPATH", "LD_LIBRARY_PATH"}
    | {"SSL_CERT_FILE", "SSL_CERT_DIR"}  # a presigned https URL of the original must still verify
)
ENV_ALLOWED_PREFIXES = ("LC_",)
# Past the CPU soft limit the child gets SIGXCPU; this much later, SIGKILL (if it ignores SIGXCPU).
CPU_HARD_GRACE_SECONDS = 5
# What a child whose allocations failed under RLIMIT_AS writes before it exits (Python, libav*, C++).
_OUT_OF_MEMORY = re.compile(
    r"MemoryError|Cannot allocate memory|std::bad_alloc|out of memory|failed to map segment", re.IGNORECASE
)


# The query of a URL in ffmpeg's messages: for a presigned URL, a credential to read the original.
URL_QUERY = re.compile(r"""(https?://[^\s?"']+)\?[^\s"']+""")


@dataclass(frozen=True)
class Limits:
    """What one child may spend. None: no limit of that kind."""

    wall_seconds: float | None = None  # watchdog: the group is killed this long after the start
    cpu_seconds: float | None = None  # RLIMIT_CPU: CPU time of the child, all its threads together
    memory_bytes: int | None = None  # RLIMIT_AS: address space of each process of the group


@dataclass(frozen=True)
class Outcome:
    """How a sandboxed child ended."""

    returncode: int
    timed_out: bool  # the watchdog killed it
    limits: Limits
    seconds: float  # wall-clock time it ran

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def failure(outcome: Outcome, stderr_tail: Iterable[str] = ()) -> str | None:
    """Why the child failed, in words a creator can read ("did not finish within 60 s"); None if it did
    not. Pure: the kill of the watchdog, SIGXCPU, and an allocation failure under RLIMIT_AS written to
    stderr are told apart from other exits."""
    limits = outcome.limits
    if outcome.timed_out:
        return f"did not finish within {limits.wall_seconds:g} s"
    if outcome.returncode == 0:
        return None
    if outcome.returncode == -signal.SIGXCPU and limits.cpu_seconds is not None:
        return f"used more than {limits.cpu_seconds:g} s of CPU time"
    if limits.memory_bytes is not None and any(_OUT_OF_MEMORY.search(line) for line in stderr_tail):
        return f"needed more than {limits.memory_bytes / 2**20:.0f} MiB of memory"
    if outcome.returncode < 0:
        return f"was killed by {_signal_name(-outcome.returncode)}"
    return f"exited with status {outcome.returncode}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def scrubbed_env(environ: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allow-listed part of `environ`, plus `extra` (set by the caller, so trusted). Pure."""
    env = {k: v for k, v in environ.items() if k in ENV_ALLOWED or k.startswith(ENV_ALLOWED_PREFIXES)}
    env.update(extra or {})
    return env


def _load_prctl() -> Callable[..., int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None  # not Linux: children then outlive a parent killed by SIGKILL


_PRCTL = _load_prctl()


def _child_setup(limits: Limits, parent: int) -> Callable[[], None]:
    """The preexec_fn: every value is computed here, in the parent, before the fork."""
    cpu = None
    if limits.cpu_seconds is not None:
        soft = max(1, int(limits.cpu_seconds + 0.999))
        cpu = _within_hard_limit(resource.RLIMIT_CPU, soft, soft + CPU_HARD_GRACE_SECONDS)
    memory = None
    if limits.memory_bytes is not None:
        memory = _within_hard_limit(resource.RLIMIT_AS, limits.memory_bytes, limits.memory_bytes)
    prctl = _PRCTL

    def setup() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:  # the parent died before prctl: nobody would kill us later
                os.kill(os.getpid(), signal.SIGKILL)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if cpu is not None:
            resource.setrlimit(resource.RLIMIT_CPU, cpu)
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, memory)

    return setup


def _within_hard_limit(kind: int, soft: int, hard: int) -> tuple[int, int]:
    """(soft, hard) no higher than the hard limit this process already has (a container's, say):
    a process may lower its hard limit, never raise it, and a failed setrlimit would fail the start."""
    current = resource.getrlimit(kind)[1]
    if current == resource.RLIM_INFINITY:
        return soft, hard
    return min(soft, current), min(hard, current)


class SandboxedProcess:
    """A child started in its own process group with its limits armed. Use `wait()` (always: it reaps
    the child and kills what is left of its group) or the context manager, which kills and waits."""

    def __init__(
        self,
        argv: Sequence[str],
        limits: Limits,
        *,
        env: Mapping[str, str] | None = None,
        stdout: int | IO[Any] | None = subprocess.DEVNULL,
        stderr: int | IO[Any] | None = subprocess.DEVNULL,
        text: bool = False,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        self.limits = limits
        self.timed_out = False
        self._lock = threading.Lock()
        self._reaped = False
        self._finished = threading.Event()
        self._started = time.monotonic()
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            text=text,
            cwd=cwd,
            env=scrubbed_env(os.environ, env),
            process_group=0,  # the child leads a group of its own: one killpg reaches all it starts
            preexec_fn=_child_setup(limits, os.getpid()),
        )
        _live.add(self)
        if limits.wall_seconds is not None:
            threading.Thread(target=self._watch, args=(limits.wall_seconds,), daemon=True, name="watchdog").start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _watch(self, seconds: float) -> None:
        if not self._finished.wait(seconds):
            with self._lock:
                if not self._reaped:
                    self.timed_out = True
            self.kill()

    def kill(self) -> None:
        """SIGKILL the child's whole group (idempotent; a no-op once the child is reaped)."""
        with self._lock:
            if self._reaped:
                return  # its pid, and so the group id, may belong to someone else by now
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait(self) -> Outcome:
        """Wait for the child to exit, kill whatever it left in its group, reap it."""
        try:
            # Wait without reaping: while the child is a zombie its pid (the group id) stays ours.
            os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            with self._lock:
                self._reaped = True  # reaped already (Popen.poll): its group id is no longer ours
        self._finished.set()
        self.kill()  # grandchildren left behind in the group
        with self._lock:
            code = self.proc.wait()
            self._reaped = True
        _live.discard(self)
        return Outcome(code, self.timed_out, self.limits, time.monotonic() - self._started)

    def __enter__(self) -> SandboxedProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._reaped:
            self.kill()
            self.wait()


# Children of this process still running: kill_all() stops them when the process itself stops.
_live: set[SandboxedProcess] = set()


def kill_all() -> int:
    """Kill the group of every sandboxed child this process still runs; how many there were. Runs at
    interpreter exit: PDEATHSIG reaches only a child itself, this also what the child started."""
    children = list(_live)
    for child in children:
        child.kill()
    return len(children)


atexit.register(kill_all)


def run(
    argv: Sequence[str],
    limits: Limits,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    max_output: int = 16 * 2**20,
) -> tuple[Outcome, bytes, bytes]:
    """Run a child to its end; (outcome, stdout, stderr), each output cut at `max_output` bytes."""
    with SandboxedProcess(argv, limits, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd) as child:
        out: list[bytes] = []
        err: list[bytes] = []
        readers = [
            threading.Thread(target=_read_bounded, args=(stream, sink, max_output), daemon=True)
            for stream, sink in ((child.proc.stdout, out), (child.proc.stderr, err))
        ]
        for reader in readers:
            reader.start()
        outcome = child.wait()
        for reader in readers:
            # The group is dead, so are the pipes' writers (unless one left the group with setsid).
            reader.join(timeout=5)
        for stream in (child.proc.stdout, child.proc.stderr):
            if stream is not None:
                stream.close()
    return outcome, b"".join(out), b"".join(err)


def _read_bounded(stream: IO[bytes] | None, sink: list[bytes], limit: int) -> None:
    if stream is None:
        return
    kept = 0
    while chunk := stream.read1(65536):  # type: ignore[attr-defined]
        if kept < limit:
            sink.append(chunk[: limit - kept])
            kept += len(chunk)
