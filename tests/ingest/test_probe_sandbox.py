"""A real ingest process whose probe hangs or is killed: the upload's asset fails with a reason within
the probe's limit, and the service answers /healthz all along.

The probe is swapped for a tiny script through its setting (VODSTACK_PROBE_COMMAND), as an operator
would wrap it; the real probe's own hang (a FIFO) is in tests/transcoder/test_probe_sandbox.py.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from catalog.models import Asset, AssetState, Upload
from catalog.session import Catalog
from media.settings import ProbeSettings
from tests.ingest.conftest import TOKEN, make_settings
from tests.ingest.harness import IngestProcess, Tus
from tests.processes import wait_gone

PROBE_LIMIT = 2.0
# The first bytes of an MP4: enough for the magic-byte check, so the probe is what decides.
MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(4096)

SCRIPTS = {
    "hangs": "import time\ntime.sleep(600)\n",
    "is killed": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
    # What the probe starts dies with it: the forked child writes its pid where the test finds it.
    "hangs after forking": "import os, sys, time\nif os.fork() == 0:\n    open(PIDFILE, 'w').write(str(os.getpid()))\n"
    "    time.sleep(600)\ntime.sleep(600)\n",
}
REASONS = {
    "hangs": f"the file could not be read within {PROBE_LIMIT:g} s",
    "is killed": "the file could not be read: the reader was killed by SIGKILL",
    "hangs after forking": f"the file could not be read within {PROBE_LIMIT:g} s",
}


@pytest.mark.parametrize("case", list(SCRIPTS))
def test_a_probe_that_hangs_or_dies_fails_the_upload_and_ingest_keeps_answering(case: str, tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    pidfile = tmp_path / "forked.pid"
    script.write_text(f"PIDFILE = {str(pidfile)!r}\n" + SCRIPTS[case])
    probe = ProbeSettings(wall_seconds=PROBE_LIMIT, command=[sys.executable, str(script)])
    settings = make_settings(tmp_path, "filesystem", probe=probe)
    ingest = IngestProcess(settings).start()
    tus = Tus(ingest.url, TOKEN)
    try:
        path = tus.new(len(MP4_HEAD))
        answers: list[httpx.Response] = []
        patching = threading.Thread(target=lambda: answers.append(tus.patch(path, 0, MP4_HEAD)))
        started = time.monotonic()
        patching.start()
        health: list[int] = []
        with httpx.Client(base_url=ingest.url, timeout=5) as client:
            while True:  # bounded by the probe's limit, and the PATCH's own timeout
                health.append(client.get("/healthz").status_code)
                if not patching.is_alive():  # asked once more after the PATCH: never an empty check
                    break
                time.sleep(0.05)
        patching.join()
        elapsed = time.monotonic() - started
        assert answers and answers[0].status_code == 204, answers
        assert health and set(health) == {200}
        if case != "is killed":
            assert len(health) > 1  # answered while the probe hung, not only after
        assert elapsed < PROBE_LIMIT + 20  # the limit held (generous: a loaded machine)
        asset = _asset_of(settings, path)
        assert asset.state == AssetState.FAILED
        assert asset.error == REASONS[case]
        assert ingest.proc is not None and ingest.proc.poll() is None  # the service itself is fine
        if pidfile.exists():
            assert wait_gone(int(pidfile.read_text()))
    finally:
        tus.close()
        ingest.close()


def _asset_of(settings: object, path: str) -> Asset:
    catalog = Catalog(settings.catalog)  # type: ignore[attr-defined]
    try:
        with catalog.session() as s:
            upload = s.get(Upload, path.rsplit("/", 1)[-1])
            assert upload is not None and upload.asset_id is not None
            asset = s.scalars(select(Asset).where(Asset.id == upload.asset_id)).one()
            s.expunge(asset)
            return asset
    finally:
        catalog.dispose()
