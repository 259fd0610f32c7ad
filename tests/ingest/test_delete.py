"""DELETE (termination): storage is freed and the upload answers 404 afterwards."""

from __future__ import annotations

from tests.ingest.harness import Tus


def test_terminate_frees_storage(tus: Tus, settings, server) -> None:
    path = tus.new(100)
    tus.patch(path, 0, b"x" * 40)
    r = tus.delete(path)
    assert r.status_code == 204 and r.headers["tus-resumable"] == "1.0.0"
    assert tus.head(path).status_code == 404
    assert tus.patch(path, 40, b"y").status_code == 404
    assert tus.delete(path).status_code == 404
    ingest = server.server.config.app.state.ingest
    upload_id = path.rsplit("/", 1)[-1]
    if settings.storage.backend == "filesystem":
        assert not list(settings.spool_dir.iterdir())
    else:
        assert list(ingest.store.multipart.pending(settings.storage.staging_bucket, "originals/")) == []
    assert not [i for i in ingest.objects.list(settings.storage.staging_bucket) if upload_id in i.key]
    asset = tus.get("/assets").json()
    assert asset == []  # the asset of a terminated upload is deleted, not listed
