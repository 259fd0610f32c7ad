"""Worker metrics across several processes: what pool processes record, the parent serves merged.

Multiprocess mode changes process-wide state (an environment variable and prometheus-client's
value class), so each scenario runs in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from transcoder.metrics import elapsed_seconds

SCENARIO = """
import multiprocessing, os, signal, sys, time, httpx
from pathlib import Path
from transcoder.metrics import (
    configure_multiprocess, record_first_playable, record_job_finished, record_job_started, worker_metrics
)
from transcoder.worker.exporter import exporter_registry, start_exporter

directory = configure_multiprocess(Path(sys.argv[1]))
worker_metrics()  # as install_worker_exporter does in the worker's parent, before the pool forks

def finish(i):
    record_job_started("transcode")
    outcome = "failed" if i == 0 else "succeeded"
    record_job_finished("transcode", outcome, "invalid_media" if i == 0 else None, 10.0, 20.0)
    if i:
        record_first_playable(5.0)

def hang(ready):
    record_job_started("transcode")
    ready.set()
    time.sleep(600)

ctx = multiprocessing.get_context("fork")
procs = [ctx.Process(target=finish, args=(i,)) for i in range(3)]
for p in procs: p.start()
for p in procs: p.join()
ready = ctx.Event()
stuck = ctx.Process(target=hang, args=(ready,))
stuck.start()
ready.wait(30)
server, _ = start_exporter(0, exporter_registry(directory), host="127.0.0.1")
url = f"http://127.0.0.1:{server.server_port}/metrics"
print(httpx.get(url).text)
print("=====")
os.kill(stuck.pid, signal.SIGKILL)
stuck.join()
print(httpx.get(url).text)
"""


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_pool_processes_are_merged_and_killed_ones_pruned(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCENARIO), str(tmp_path / "metrics")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    before, after = (samples(part) for part in result.stdout.split("====="))
    kind = (("kind", "transcode"),)
    assert before[("vodstack_transcoder_jobs_started_total", kind)] == 4
    assert before[("vodstack_transcoder_jobs_running", kind)] == 1
    assert before[("vodstack_transcoder_jobs_finished_total", (*kind, ("outcome", "succeeded")))] == 2
    assert before[("vodstack_transcoder_failures_total", (*kind, ("reason", "invalid_media")))] == 1
    assert before[("vodstack_transcoder_encoded_media_seconds_total", kind)] == 40
    assert before[("vodstack_transcoder_encode_speed_ratio_sum", kind)] == 4  # two jobs at 2x
    assert before[("vodstack_transcoder_time_to_first_playable_seconds_count", ())] == 2
    duration = ("vodstack_transcoder_job_duration_seconds_count", (*kind, ("outcome", "failed")))
    assert before[duration] == 1
    # The SIGKILLed process never said goodbye: its running job must not be counted forever.
    assert after[("vodstack_transcoder_jobs_running", kind)] == 0
    assert after[("vodstack_transcoder_jobs_started_total", kind)] == 4


def test_elapsed_seconds_takes_naive_times_as_utc() -> None:
    naive = datetime(2026, 1, 1, 12, 0, 0)
    aware = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    assert elapsed_seconds(naive, aware) == 30
    assert elapsed_seconds(aware, naive.replace(minute=1)) == 30
