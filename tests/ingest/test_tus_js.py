"""tus-js-client (npm) under Node against a real uvicorn: resumed across processes with FileUrlStorage,
parallelUploads (concatenation), uploadLengthDeferred, uploadDataDuringCreation."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from catalog.models import Upload
from catalog.session import Catalog
from tests.ingest.conftest import AUTH, TOKEN
from tests.media import make_clip

# Needs node and npm (the README's pip-only test command deselects it; .ci/run configures it).
pytestmark = pytest.mark.node

JS = Path(__file__).parent / "js"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise RuntimeError("node and npm are required for the tus-js-client tests")
    if not (JS / "node_modules" / "tus-js-client").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS, check=True, timeout=300)
    return JS / "node_modules"


@pytest.fixture(scope="session")
def big_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Long enough (a few MB) that uploads take several requests and S3 parts.
    return make_clip(tmp_path_factory.mktemp("js") / "clip.mp4", seconds=8.0, size="640x360", rate="25")


def _run(server, clip: Path, **opts) -> dict:  # type: ignore[no-untyped-def]
    args = {"endpoint": f"{server.url}/files/", "file": str(clip), "token": TOKEN, **opts}
    proc = subprocess.run(
        ["node", str(JS / "upload.mjs"), json.dumps(args)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _finished(settings, clip: Path, queue) -> None:  # type: ignore[no-untyped-def]
    catalog = Catalog(settings.catalog, apply_migrations=False)
    with catalog.session() as s:
        finals = [u for u in s.query(Upload).all() if u.concat != "partial" and u.state == "complete"]
        assert len(finals) == 1
        assert finals[0].sha256 == hashlib.sha256(clip.read_bytes()).hexdigest()
    catalog.dispose()
    assert len(queue()) == 1


def test_resume_across_processes_with_file_url_storage(node_modules, server, settings, big_clip, tmp_path, queue):  # type: ignore[no-untyped-def]
    storage = str(tmp_path / "tus-urls.json")
    size = big_clip.stat().st_size
    first = _run(server, big_clip, chunkSize=256 * 1024, urlStorage=storage, abortAfter=size // 3)
    assert first["aborted"] and first["url"]
    offset = int(
        httpx.head(first["url"], headers={"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {TOKEN}"}).headers[
            "upload-offset"
        ]
    )
    assert 0 < offset < size
    second = _run(server, big_clip, chunkSize=256 * 1024, urlStorage=storage, resume=True)
    assert second["resumedFrom"] == first["url"] == second["url"]
    _finished(settings, big_clip, queue)


def test_parallel_uploads(node_modules, server, settings, big_clip, queue):  # type: ignore[no-untyped-def]
    result = _run(server, big_clip, parallelUploads=4)
    assert result["url"]
    _finished(settings, big_clip, queue)
    asset = httpx.get(f"{server.url}/assets", headers=AUTH).json()
    assert [a["state"] for a in asset] == ["queued"]


def test_deferred_length_and_data_during_creation(node_modules, server, settings, big_clip, queue):  # type: ignore[no-untyped-def]
    _run(server, big_clip, uploadLengthDeferred=True, uploadDataDuringCreation=True, chunkSize=1024 * 1024)
    _finished(settings, big_clip, queue)
