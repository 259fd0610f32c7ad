"""Migrations apply once however many processes start together."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect

from catalog.session import make_engine, migrate

SCRIPT = "import sys; from catalog.session import migrate; migrate(sys.argv[1])"


def test_concurrent_migrations_on_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, url], stderr=subprocess.PIPE) for _ in range(4)]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    engine = make_engine(url)
    try:
        assert {"uploads", "assets", "renditions", "jobs"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    migrate(url)  # and again: a no-op
