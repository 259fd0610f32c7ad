"""media.sandbox: the watchdog fires on a silent child, the whole group dies, limits bite, secrets stay
behind, and a child dies with the process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from media.sandbox import Limits, Outcome, SandboxedProcess, failure, kill_all, run, scrubbed_env
from tests.processes import running, wait_gone

# Generous bound for "promptly": the limits under test are 0.5-1 s; a loaded machine may be slow.
PROMPTLY = 15.0


def test_the_watchdog_kills_a_child_that_prints_nothing() -> None:
    started = time.monotonic()
    outcome, out, _ = run(["sleep", "60"], Limits(wall_seconds=0.5))
    assert outcome.timed_out and outcome.returncode == -signal.SIGKILL
    assert failure(outcome) == "did not finish within 0.5 s"
    assert time.monotonic() - started < PROMPTLY


def test_a_child_within_its_limits_is_not_touched() -> None:
    outcome, out, err = run(["sh", "-c", "echo out; echo err >&2"], Limits(wall_seconds=30, cpu_seconds=10))
    assert outcome.ok and not outcome.timed_out
    assert (out, err) == (b"out\n", b"err\n")
    assert failure(outcome) is None


def test_the_timeout_kills_the_whole_group() -> None:
    # The child starts a grandchild and waits on it; the watchdog must reach the grandchild too.
    script = "sleep 60 & echo $!; wait"
    with SandboxedProcess(["sh", "-c", script], Limits(wall_seconds=0.5), stdout=subprocess.PIPE) as child:
        assert child.proc.stdout is not None
        grandchild = int(child.proc.stdout.readline())
        outcome = child.wait()
        child.proc.stdout.close()
    assert outcome.timed_out
    assert wait_gone(grandchild)


def test_what_a_child_leaves_in_its_group_dies_when_it_exits() -> None:
    outcome, out, _ = run(["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"], Limits(wall_seconds=30))
    assert outcome.ok
    assert wait_gone(int(out))


def test_a_child_dies_with_the_process_that_started_it() -> None:
    # An owner (a worker, say) starts a sandboxed child, then is killed with SIGKILL: no finally runs.
    owner_code = textwrap.dedent(
        """
        import subprocess, sys, time
        from media.sandbox import Limits, SandboxedProcess
        child = SandboxedProcess(["sleep", "60"], Limits())
        print(child.pid, flush=True)
        time.sleep(60)
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", owner_code], stdout=subprocess.PIPE, cwd=os.getcwd())
    assert owner.stdout is not None
    child = int(owner.stdout.readline())
    assert running(child)
    owner.kill()
    owner.wait()
    owner.stdout.close()
    assert wait_gone(child)


def test_the_environment_carries_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "VODSTACK_INGEST_TOKENS": '["tok"]',
        "VODSTACK_STORAGE_S3_SECRET_KEY": "s3secret",
        "VODSTACK_EDGE_SIGNING_SECRET": "sign",
        "AWS_SECRET_ACCESS_KEY": "aws",
        "AWS_SESSION_TOKEN": "awstok",
        "MINIO_ROOT_PASSWORD": "minio",
        "GITHUB_TOKEN": "gh",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    outcome, out, _ = run(["env"], Limits(wall_seconds=30), env={"GIVEN": "by the caller"})
    assert outcome.ok
    seen = dict(line.split("=", 1) for line in out.decode().splitlines() if "=" in line)
    assert not set(secrets) & set(seen)
    assert not {"tok", "s3secret", "sign", "aws", "awstok", "minio", "gh"} & set(seen.values())
    assert seen["GIVEN"] == "by the caller"
    assert seen["PATH"] == os.environ["PATH"] and seen["LC_ALL"] == "C.UTF-8"


def test_scrubbed_env_is_an_allow_list() -> None:
    env = scrubbed_env({"PATH": "/bin", "LC_CTYPE": "C", "VODSTACK_X": "1", "SECRET": "2"}, {"EXTRA": "3"})
    assert env == {"PATH": "/bin", "LC_CTYPE": "C", "EXTRA": "3"}


def test_a_child_allocating_too_much_fails_and_says_so() -> None:
    allocate = "b = bytearray(2 * 1024**3); print('allocated')"
    outcome, out, err = run([sys.executable, "-c", allocate], Limits(wall_seconds=60, memory_bytes=256 * 2**20))
    assert not outcome.ok and out == b""
    assert failure(outcome, err.decode().splitlines()) == "needed more than 256 MiB of memory"


def test_a_child_spinning_past_its_cpu_time_is_killed() -> None:
    outcome, _, _ = run([sys.executable, "-c", "while True: pass"], Limits(wall_seconds=60, cpu_seconds=1))
    assert not outcome.timed_out and outcome.returncode == -signal.SIGXCPU
    assert failure(outcome) == "used more than 1 s of CPU time"


def test_no_core_file_and_no_inherited_limits_beyond_ours() -> None:
    code = "import resource; print(resource.getrlimit(resource.RLIMIT_CORE), resource.getrlimit(resource.RLIMIT_AS))"
    outcome, out, _ = run([sys.executable, "-c", code], Limits(wall_seconds=60, memory_bytes=2**30))
    assert outcome.ok
    assert out.decode().strip() == f"(0, 0) ({2**30}, {2**30})"


def test_kill_all_stops_every_running_child() -> None:
    children = [SandboxedProcess(["sleep", "60"], Limits()) for _ in range(2)]
    assert kill_all() == 2
    assert [c.wait().returncode for c in children] == [-signal.SIGKILL] * 2
    assert kill_all() == 0


@pytest.mark.parametrize(
    ("outcome", "stderr", "reason"),
    [
        (Outcome(0, False, Limits(), 1.0), [], None),
        (Outcome(-9, True, Limits(wall_seconds=60), 60.0), [], "did not finish within 60 s"),
        (Outcome(-24, False, Limits(cpu_seconds=30), 9.0), [], "used more than 30 s of CPU time"),
        (Outcome(1, False, Limits(memory_bytes=2**30), 1.0), ["MemoryError"], "needed more than 1024 MiB of memory"),
        (Outcome(1, False, Limits(), 1.0), ["MemoryError"], "exited with status 1"),  # no limit: not ours
        (Outcome(-11, False, Limits(), 1.0), [], "was killed by SIGSEGV"),
        (Outcome(-9, False, Limits(), 1.0), [], "was killed by SIGKILL"),
        (Outcome(187, False, Limits(), 1.0), ["x"], "exited with status 187"),
    ],
)
def test_failure_reasons(outcome: Outcome, stderr: list[str], reason: str | None) -> None:
    assert failure(outcome, stderr) == reason


def test_limits_above_an_inherited_hard_limit_are_lowered_to_it() -> None:
    # A container (here: an owner process) whose hard limit is below the one asked for: the child
    # still starts, with the lower limit.
    owner_code = textwrap.dedent(
        """
        import resource, sys
        from media.sandbox import Limits, run
        resource.setrlimit(resource.RLIMIT_AS, (2**34, 2**34))
        resource.setrlimit(resource.RLIMIT_CPU, (90, 100))
        code = "import resource; print(resource.getrlimit(resource.RLIMIT_AS), resource.getrlimit(resource.RLIMIT_CPU))"
        outcome, out, _ = run([sys.executable, "-c", code], Limits(cpu_seconds=500, memory_bytes=2**40))
        print(outcome.returncode, out.decode().strip())
        """
    )
    done = subprocess.run([sys.executable, "-c", owner_code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == f"0 ({2**34}, {2**34}) (100, 100)", done.stderr


def test_an_owner_that_exits_takes_its_childs_whole_group_with_it() -> None:
    # PDEATHSIG reaches only the child; what the child started dies through the group kill at exit.
    owner_code = textwrap.dedent(
        """
        import subprocess, sys
        from media.sandbox import Limits, SandboxedProcess
        child = SandboxedProcess(["sh", "-c", "sleep 60 & echo $!; wait"], Limits(), stdout=subprocess.PIPE)
        print(child.proc.stdout.readline().decode().strip(), flush=True)
        sys.exit(0)
        """
    )
    owner = subprocess.run([sys.executable, "-c", owner_code], capture_output=True, text=True, timeout=60)
    assert owner.returncode == 0, owner.stderr
    assert wait_gone(int(owner.stdout))
