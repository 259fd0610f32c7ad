"""kill -9 the ingest process at several points of an upload, restart it, resume: nothing acknowledged
is lost, HEAD never claims more than was sent, and the staged original is byte-identical."""

from __future__ import annotations

import hashlib
import io
import os
import signal
from collections.abc import Iterator

import httpx
import pytest
from tusclient import client as tus_client

from catalog.models import Upload
from catalog.session import Catalog
from tests.ingest.conftest import TOKEN, make_settings
from tests.ingest.harness import TUS, IngestProcess, queued_messages

MIB = 1024 * 1024
AUTH = {"Authorization": f"Bearer {TOKEN}", **TUS}


def _body(data: bytes, kill_after: int | None, proc: IngestProcess) -> Iterator[bytes]:
    """Stream `data`; after `kill_after` bytes have gone out, SIGKILL the server mid-request."""
    sent = 0
    for i in range(0, len(data), 64 * 1024):
        piece = data[i : i + 64 * 1024]
        yield piece
        sent += len(piece)
        if kill_after is not None and sent >= kill_after:
            os.kill(proc.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
            proc.proc.wait()  # type: ignore[union-attr]
            return


def _patch(url: str, offset: int, body: Iterator[bytes]) -> httpx.Response | None:
    headers = {**AUTH, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    try:
        return httpx.patch(url, headers=headers, content=body, timeout=30)
    except httpx.TransportError:
        return None


@pytest.mark.parametrize("backend", ["filesystem", pytest.param("s3", marks=pytest.mark.s3)])
def test_sigkill_at_several_points_then_resume(backend: str, tmp_path, request) -> None:  # type: ignore[no-untyped-def]
    endpoint = request.getfixturevalue("moto_endpoint") if backend == "s3" else None
    settings = make_settings(tmp_path, backend, endpoint, probe_on_completion=False)
    data = os.urandom(20 * MIB + 4321)
    proc = IngestProcess(settings).start()
    try:
        created = httpx.post(f"{proc.url}/files/", headers={**AUTH, "Upload-Length": str(len(data))})
        url = f"{proc.url}{httpx.URL(created.headers['location']).path}"
        offset = 0
        # Mid-body kills at different depths (inside a part, across an S3 part boundary), then a kill
        # right after an acknowledged PATCH, then one during the final PATCH.
        for kill_after, acknowledged in [(3 * MIB, False), (9 * MIB, False), (2 * MIB, True), (None, None)]:
            if acknowledged:
                r = _patch(url, offset, _body(data[offset : offset + kill_after], None, proc))
                assert r is not None and r.status_code == 204
                offset = int(r.headers["upload-offset"])
                proc.kill()
            else:
                chunk = data[offset:] if kill_after is None else data[offset : offset + 2 * kill_after]
                sent_until = offset + (kill_after or len(chunk) // 2)
                _patch(url, offset, _body(chunk, kill_after or len(chunk) // 2, proc))
                assert proc.proc.poll() is not None  # type: ignore[union-attr]
            proc.start()
            head = httpx.head(url, headers=AUTH)
            new_offset = int(head.headers["upload-offset"])
            assert offset <= new_offset <= (offset if acknowledged else sent_until)
            offset = new_offset
        # The real client resumes from what HEAD says and finishes.
        uploader = tus_client.TusClient(f"{proc.url}/files/", headers={"Authorization": f"Bearer {TOKEN}"})
        up = uploader.uploader(file_stream=io.BytesIO(data), url=url, chunk_size=4 * MIB)
        assert up.offset == offset
        up.upload()
        assert int(httpx.head(url, headers=AUTH).headers["upload-offset"]) == len(data)
    finally:
        proc.close()
    catalog = Catalog(settings.catalog, apply_migrations=False)
    with catalog.session() as s:
        row = s.get(Upload, url.rsplit("/", 1)[-1])
        assert row.state == "complete"
        assert row.sha256 == hashlib.sha256(data).hexdigest()
    catalog.dispose()
    assert queued_messages(settings.broker.folder) == []  # random bytes: refused, so no job
