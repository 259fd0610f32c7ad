"""Memory stays flat: a PATCH much larger than the allowed growth is streamed, never held."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ingest.conftest import TOKEN, make_settings
from tests.ingest.harness import TUS, IngestProcess

MIB = 1024 * 1024
BODY = 128 * MIB
ALLOWED_GROWTH = 48 * MIB  # a few 1 MiB batches, one S3 part, interpreter noise


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def _body(size: int) -> Iterator[bytes]:
    block = bytes(range(256)) * 4096  # 1 MiB
    for _ in range(size // MIB):
        yield block


@pytest.mark.parametrize("backend", ["filesystem", pytest.param("s3", marks=pytest.mark.s3)])
def test_large_patch_does_not_grow_memory(backend: str, tmp_path, request) -> None:  # type: ignore[no-untyped-def]
    endpoint = request.getfixturevalue("moto_endpoint") if backend == "s3" else None
    proc = IngestProcess(make_settings(tmp_path, backend, endpoint)).start()
    auth = {**TUS, "Authorization": f"Bearer {TOKEN}"}
    patch = {**auth, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    try:
        with httpx.Client(base_url=proc.url, timeout=120) as http:
            # Warm up every code path (imports, pools, first part) before measuring.
            warm = http.post("/files/", headers={**auth, "Upload-Length": str(9 * MIB)}).headers["location"]
            assert http.patch(warm, headers=patch, content=_body(9 * MIB)).status_code == 204
            before = _peak_rss(proc.proc.pid)  # type: ignore[union-attr]
            url = http.post("/files/", headers={**auth, "Upload-Length": str(BODY + 1)}).headers["location"]
            r = http.patch(url, headers=patch, content=_body(BODY))  # chunked: no Content-Length either
            assert r.status_code == 204 and r.headers["upload-offset"] == str(BODY)
            growth = _peak_rss(proc.proc.pid) - before  # type: ignore[union-attr]
    finally:
        proc.close()
    assert growth < ALLOWED_GROWTH, f"peak RSS grew by {growth / MIB:.0f} MiB for a {BODY // MIB} MiB PATCH"
