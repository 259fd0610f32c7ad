"""The real tuspy client against a real uvicorn: chunked, with checksums, resumed through URL storage."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest
from tusclient import client as tus_client
from tusclient.exceptions import TusUploadFailed
from tusclient.storage.filestorage import FileStorage

from storage.factory import open_store
from tests.ingest.conftest import AUTH, TOKEN
from tests.ingest.harness import ServerThread
from tests.media import make_clip


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("media") / "clip.mp4", seconds=2.0, size="160x120")


def _client(server: ServerThread) -> tus_client.TusClient:
    return tus_client.TusClient(f"{server.url}/files/", headers={"Authorization": f"Bearer {TOKEN}"})


def _asset_of(server: ServerThread, upload_url: str) -> dict:
    assets = httpx.get(f"{server.url}/assets", headers=AUTH).json()
    return assets[0]


def test_chunked_upload_with_checksum_queues_one_job(server, clip, queue, settings) -> None:
    # tuspy opens a file it is given by path on every read and never closes it: give it one we close.
    with clip.open("rb") as stream:
        uploader = _client(server).uploader(
            file_stream=stream, chunk_size=64 * 1024, metadata={"filename": "clip.mp4"}, upload_checksum=True
        )
        uploader.upload()
    asset = _asset_of(server, uploader.url)
    assert asset["state"] == "queued", asset
    assert asset["title"] == "clip.mp4"
    assert asset["duration"] == pytest.approx(2.0, abs=0.2)
    messages = queue()
    assert len(messages) == 1
    assert messages[0]["task"] == "transcoder.transcode"

    from catalog.models import Job, Upload
    from catalog.session import Catalog

    catalog = Catalog(settings.catalog, apply_migrations=False)
    with catalog.session() as s:
        upload = s.get(Upload, uploader.url.rsplit("/", 1)[-1])
        assert upload.sha256 == hashlib.sha256(clip.read_bytes()).hexdigest()
        assert upload.staging_key == f"originals/{upload.id}"
        jobs = s.query(Job).all()
        assert [j.id for j in jobs] == messages[0]["args"]
    catalog.dispose()


# tusclient (tuspy) opens a file given by path on every read and never closes it; with store_url it
# also closes a stream it is given (BaseUploader._get_fingerprint), so a path is the only way here.
@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")
def test_resume_through_url_storage(server, clip, tmp_path, queue) -> None:
    storage = FileStorage(str(tmp_path / "urls.json"))
    first = _client(server).uploader(
        str(clip), chunk_size=32 * 1024, store_url=True, url_storage=storage, metadata={"filename": "c.mp4"}
    )
    first.upload(stop_at=100 * 1024)  # the "interruption": the client stops part-way
    assert first.offset == 100 * 1024
    second = _client(server).uploader(
        str(clip), chunk_size=32 * 1024, store_url=True, url_storage=storage, metadata={"filename": "c.mp4"}
    )
    assert second.url == first.url
    assert second.offset == 100 * 1024  # from HEAD
    second.upload()
    storage.close()  # its TinyDB holds the file open
    assert second.offset == os.path.getsize(clip)
    assert len(queue()) == 1


def test_random_bytes_fail_with_reason_and_no_job(server, tmp_path, queue) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(100_000))
    with junk.open("rb") as stream:
        _client(server).uploader(file_stream=stream, chunk_size=40_000, metadata={"filename": "junk.mp4"}).upload()
    asset = httpx.get(f"{server.url}/assets", headers=AUTH).json()[0]
    assert asset["state"] == "failed"
    assert "not a video" in asset["error"]
    assert queue() == []


def test_file_longer_than_the_upload_is_refused_past_its_length(server, tmp_path, settings) -> None:
    """tuspy resumes an upload declared shorter than its file: the PATCH that would cross Upload-Length is
    413 and keeps nothing; the upload stays open at the last accepted chunk."""
    data = os.urandom(150_000)
    source = tmp_path / "longer.bin"
    source.write_bytes(data)
    created = httpx.post(
        f"{server.url}/files/",
        headers={"Authorization": f"Bearer {TOKEN}", "Tus-Resumable": "1.0.0", "Upload-Length": "100000"},
    )
    # A stream the test closes: tusclient never closes a file it opens from a path.
    with source.open("rb") as stream:
        uploader = _client(server).uploader(file_stream=stream, url=created.headers["location"], chunk_size=64 * 1024)
        with pytest.raises(TusUploadFailed) as failed:
            uploader.upload()
    assert failed.value.status_code == 413
    head = httpx.head(uploader.url, headers={"Authorization": f"Bearer {TOKEN}", "Tus-Resumable": "1.0.0"})
    assert head.headers["upload-offset"] == str(64 * 1024)
    assert httpx.get(f"{server.url}/assets", headers=AUTH).json()[0]["state"] == "uploading"


def test_more_bytes_for_a_completed_upload_are_refused(server, clip, tmp_path, queue, settings) -> None:
    """tuspy resumes a completed upload with a longer file: 403, the original and its one job unchanged."""
    with clip.open("rb") as stream:  # tusclient never closes a file it opens from a path
        first = _client(server).uploader(file_stream=stream, chunk_size=64 * 1024, metadata={"filename": clip.name})
        first.upload()
    longer = tmp_path / "longer.mp4"
    longer.write_bytes(clip.read_bytes() + b"trailing bytes")
    with longer.open("rb") as stream:
        again = _client(server).uploader(file_stream=stream, url=first.url, chunk_size=64 * 1024)
        assert again.offset == os.path.getsize(clip)  # from HEAD: it resumes at the end
        with pytest.raises(TusUploadFailed) as failed:
            again.upload_chunk()  # one PATCH: upload() would loop for ever on a 204 that took nothing
    assert failed.value.status_code == 403
    objects = open_store(settings.storage)
    original = objects.get_bytes(settings.storage.staging_bucket, f"originals/{first.url.rsplit('/', 1)[-1]}")
    assert original == clip.read_bytes()
    assert len(queue()) == 1
