"""`vodstack keys create|list|revoke`: the key is printed once and never stored; every creation and
revocation is in the audit log (logger vodstack.audit, on stderr) with the key's name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _keys(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VODSTACK_")}
    argv = [sys.executable, "-m", "vodstack", "--data-dir", str(data), "keys", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_create_list_revoke(tmp_path: Path) -> None:
    data = tmp_path / "data"
    created = _keys(data, "create", "--name", "ci-uploader", "--scope", "upload,read", "--owner", "team-video")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("vsk_")
    assert "create key 'ci-uploader'" in created.stderr and "team-video" in created.stderr
    assert "vodstack.audit" in created.stderr and key not in created.stderr
    assert key.encode() not in (data / "catalog.db").read_bytes()  # only its hash is kept

    listed = _keys(data, "list")
    assert listed.returncode == 0 and key not in listed.stdout
    row = next(line for line in listed.stdout.splitlines() if line.startswith("ci-uploader"))
    assert "team-video" in row and "read,upload" in row and row.rstrip().endswith("-")

    revoked = _keys(data, "revoke", "ci-uploader")
    assert revoked.returncode == 0 and "revoke key 'ci-uploader'" in revoked.stderr
    row = next(line for line in _keys(data, "list").stdout.splitlines() if line.startswith("ci-uploader"))
    assert not row.rstrip().endswith("-")  # a revocation time


def test_refusals_exit_2_with_a_reason(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _keys(data, "create", "--name", "a", "--scope", "upload").returncode == 0
    for args in (
        ("create", "--name", "a", "--scope", "upload"),  # name taken
        ("create", "--name", "b", "--scope", "root"),
        ("revoke", "nobody"),
    ):
        run = _keys(data, *args)
        assert run.returncode == 2 and run.stderr.startswith("vodstack keys: "), (args, run.stderr)
        assert "Traceback" not in run.stderr
