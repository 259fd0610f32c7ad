"""Two ingest processes on the same data (catalog lock, shared spool dir or S3) serving interleaved
requests for the same upload: no corruption, no 423, exactly one job."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from catalog.models import Upload
from catalog.session import Catalog
from tests.ingest.conftest import AUTH, TOKEN, make_settings
from tests.ingest.harness import IngestProcess, Tus, queued_messages, wait_body_received
from tests.ingest.test_takeover import _start_patch
from tests.media import make_clip

MIB = 1024 * 1024


@pytest.fixture(
    params=[
        ("filesystem", "catalog"),
        pytest.param(("s3", "catalog"), marks=pytest.mark.s3),
        pytest.param(("filesystem", "redis"), marks=pytest.mark.redis),
    ],
    ids=lambda p: "-".join(p),
    scope="module",  # two process starts per configuration, shared by the tests below
)
def pair(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    tmp_path = tmp_path_factory.mktemp("pair")
    backend, lock = request.param
    endpoint = request.getfixturevalue("moto_endpoint") if backend == "s3" else None
    extra = {"redis_url": os.environ["VODSTACK_TEST_REDIS_URL"]} if lock == "redis" else {}
    settings = make_settings(tmp_path, backend, endpoint, lock_backend=lock, **extra)
    # One after the other: catalog.session.migrate serialises concurrent migrations on PostgreSQL only.
    a = IngestProcess(settings).start()
    b = IngestProcess(settings)
    try:
        b.start()
        yield settings, a, b
    finally:
        a.close()
        b.close()


def _sha(settings, upload_id: str) -> str | None:  # type: ignore[no-untyped-def]
    catalog = Catalog(settings.catalog, apply_migrations=False)
    with catalog.session() as s:
        sha = s.get(Upload, upload_id).sha256
    catalog.dispose()
    return sha


def test_interleaved_requests_across_processes(pair) -> None:  # type: ignore[no-untyped-def]
    settings, a, b = pair
    ta, tb = Tus(a.url, TOKEN), Tus(b.url, TOKEN)
    data = os.urandom(11 * MIB + 77)
    path = ta.new(len(data))
    cuts = [0, 2 * MIB, 6 * MIB, 9 * MIB, len(data)]
    for i, (start, end) in enumerate(zip(cuts, cuts[1:], strict=False)):
        writer, reader = (ta, tb) if i % 2 else (tb, ta)
        assert int(reader.head(path).headers["upload-offset"]) == start
        if i == 2:
            # A stalled PATCH on one process; the other one gets the upload without a 423.
            holder = b.url if writer is tb else a.url
            sock = _start_patch(holder, path, start, end - start, data[start : start + MIB])
            wait_body_received(holder, sock)  # the holder has the first MiB: a HEAD now must keep all of it
            head = reader.head(path)
            assert head.status_code == 200
            start = int(head.headers["upload-offset"])
            assert start == cuts[2] + MIB
            writer = reader
            sock.close()
        r = writer.patch(path, start, data[start:end])
        assert r.status_code == 204, r.text
        assert r.headers["upload-offset"] == str(end)
    assert _sha(settings, path.rsplit("/", 1)[-1]) == hashlib.sha256(data).hexdigest()
    ta.close()
    tb.close()


def test_concurrent_completion_makes_one_job(pair, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings, a, b = pair
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0, size="160x120").read_bytes()
    ta, tb = Tus(a.url, TOKEN), Tus(b.url, TOKEN)
    path = ta.new(len(clip))
    half = len(clip) // 2
    assert tb.patch(path, 0, clip[:half]).status_code == 204
    # The same final PATCH reaches both processes at once (a retry racing the original).
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda t: t.patch(path, half, clip[half:]), (ta, tb)))
    assert sorted(r.status_code for r in answers) in ([204, 204], [204, 409])
    assert all(r.status_code != 423 for r in answers)
    heads = [t.head(path) for t in (ta, tb)]
    assert [h.headers["upload-offset"] for h in heads] == [str(len(clip))] * 2
    assert len(queued_messages(settings.broker.folder)) == 1
    assert httpx.get(f"{a.url}/assets", headers=AUTH).json()[0]["state"] == "queued"
    ta.close()
    tb.close()
