"""Expiration: expired uploads answer 410 and the cleanup reclaims every byte they held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.cleanup import run_cleanup
from tests.ingest.harness import Tus

MIB = 1024 * 1024


def test_expired_upload_is_gone_and_reclaimed(tus: Tus, server, settings) -> None:
    ingest = server.server.config.app.state.ingest
    path = tus.new(12 * MIB)
    # Enough for one S3 part plus a tail temp object; on the filesystem, a spool file.
    assert tus.patch(path, 0, b"z" * (9 * MIB)).status_code == 204
    later = datetime.now(UTC) + timedelta(seconds=settings.upload_expiry_seconds + 60)
    report = run_cleanup(ingest, now=later)
    assert report.expired == 1
    assert tus.head(path).status_code == 410
    r = tus.patch(path, 9 * MIB, b"z")
    assert r.status_code == 410 and "expired" in r.text
    staging = settings.storage.staging_bucket
    assert list(ingest.objects.list(staging)) == []
    if settings.storage.backend == "filesystem":
        assert list(settings.spool_dir.iterdir()) == []
    else:
        assert list(ingest.store.multipart.pending(settings.storage.staging_bucket, "originals/")) == []
    asset = tus.get("/assets").json()[0]
    assert asset["state"] == "failed" and "expired" in asset["error"]
    assert 'vodstack_ingest_uploads_total{event="expired"} 1.0' in tus.http.get("/metrics").text


def test_sweep_reclaims_leftovers_nobody_knows(tus: Tus, server, settings) -> None:
    ingest = server.server.config.app.state.ingest
    object.__setattr__(ingest.store, "sweep_grace_seconds", 0)
    live = tus.new(10)
    tus.patch(live, 0, b"12345")
    # A creation that crashed between storage and catalog: storage exists, no row.
    ingest.store.create("f" * 32, "originals/" + "f" * 32, 100)
    assert run_cleanup(ingest).swept >= 1
    if settings.storage.backend == "filesystem":
        assert [p.name for p in settings.spool_dir.iterdir()] == [live.rsplit("/", 1)[-1]]
    else:
        keys = [p.key for p in ingest.store.multipart.pending(settings.storage.staging_bucket, "originals/")]
        assert keys == ["originals/" + live.rsplit("/", 1)[-1]]
    assert tus.head(live).headers["upload-offset"] == "5"


def test_cleanup_finishes_uploads_stranded_by_a_crash(tus: Tus, server, settings, queue) -> None:
    import asyncio

    from ingest.cleanup import finish_stranded
    from ingest.uploads import get_upload

    ingest = server.server.config.app.state.ingest
    path = tus.new(6)
    tus.patch(path, 0, b"abc")
    # The process stored the last bytes and died before completing: storage is full, the catalog open.
    upload = get_upload(ingest.catalog, path.rsplit("/", 1)[-1])
    writer = ingest.store.writer(upload, 3, verify=False)
    writer.write(b"def")
    writer.commit()
    assert tus.get("/assets").json()[0]["state"] == "uploading"
    assert asyncio.run(finish_stranded(ingest, idle_seconds=0)) == 1
    asset = tus.get("/assets").json()[0]
    assert asset["state"] == "failed" and "not a video" in asset["error"]
    assert asyncio.run(finish_stranded(ingest, idle_seconds=0)) == 0


def test_unclaimed_partial_uploads_are_reclaimed(tus: Tus, server, settings) -> None:
    ingest = server.server.config.app.state.ingest
    path = tus.new(4, headers={"Upload-Concat": "partial"})
    assert tus.patch(path, 0, b"part").status_code == 204
    staging = settings.storage.staging_bucket
    assert [i.key for i in ingest.objects.list(staging, "partials/")] == ["partials/" + path.rsplit("/", 1)[-1]]
    later = datetime.now(UTC) + timedelta(seconds=settings.upload_expiry_seconds + 60)
    assert run_cleanup(ingest, now=later).expired == 1
    assert list(ingest.objects.list(staging, "partials/")) == []
    assert tus.head(path).status_code == 410
    r = tus.create(headers={"Upload-Concat": f"final;{path}"})
    assert r.status_code == 400
