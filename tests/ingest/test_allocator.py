"""The malloc tuning keeps large short-lived buffers in the heap instead of faulting in fresh pages."""

from __future__ import annotations

import subprocess
import sys
import textwrap

WORKLOAD = textwrap.dedent(
    """
    import random, resource, sys
    if sys.argv[1] == "tuned":
        from ingest.allocator import keep_large_buffers_in_heap
        assert keep_large_buffers_in_heap()
    rng = random.Random(7)
    chunks = [bytes(rng.randrange(64 * 1024, 512 * 1024)) for _ in range(8)]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(400):
        body = bytearray()
        for chunk in rng.sample(chunks, 6):  # grows through several sizes, like a body buffer
            body += chunk
        batch = bytes(body)  # and is copied out, like a write batch
        del body, batch
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", WORKLOAD, mode], capture_output=True, text=True, check=True, cwd=".")
    return int(out.stdout)


def test_large_buffers_are_reused_instead_of_faulted_in_again() -> None:
    default, tuned = faults("default"), faults("tuned")
    # 400 rounds of ~1.7 MiB each: the default faults in fresh pages again and again, the tuned heap reuses them.
    assert default > 5_000
    assert tuned * 5 < default, (default, tuned)
