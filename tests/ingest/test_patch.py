"""PATCH: offsets, content type, checksums, limits, completion, retried final PATCH."""

from __future__ import annotations

import base64
import hashlib
import os

import httpx
import pytest

from ingest.settings import IngestSettings
from storage.factory import open_store
from tests.ingest.harness import Tus


def _sum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def test_patch_appends_and_reports_offset(tus: Tus) -> None:
    path = tus.new(6)
    r = tus.patch(path, 0, b"abc")
    assert r.status_code == 204
    assert r.headers["upload-offset"] == "3"
    assert r.headers["tus-resumable"] == "1.0.0"
    assert "upload-expires" in r.headers
    assert tus.patch(path, 3, b"def").headers["upload-offset"] == "6"


def test_offset_mismatch_is_409(tus: Tus) -> None:
    path = tus.new(6)
    tus.patch(path, 0, b"abc")
    r = tus.patch(path, 1, b"xx")
    assert r.status_code == 409 and "3" in r.text
    assert tus.head(path).headers["upload-offset"] == "3"


def test_wrong_content_type_is_415(tus: Tus) -> None:
    path = tus.new(6)
    r = tus.patch(path, 0, b"abc", {"Content-Type": "application/octet-stream"})
    assert r.status_code == 415 and "application/offset+octet-stream" in r.text


def test_missing_or_bad_offset_is_400(tus: Tus) -> None:
    path = tus.new(6)
    for value in ("-3", "x"):
        assert tus.patch(path, 0, b"a", {"Upload-Offset": value}).status_code == 400


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256"])
def test_checksums(tus: Tus, algorithm: str) -> None:
    path = tus.new(6)
    r = tus.patch(path, 0, b"abc", {"Upload-Checksum": _sum(algorithm, b"abc")})
    assert r.status_code == 204 and r.headers["upload-offset"] == "3"
    r = tus.patch(path, 3, b"def", {"Upload-Checksum": _sum(algorithm, b"xyz")})
    assert r.status_code == 460
    assert tus.head(path).headers["upload-offset"] == "3"  # the chunk was discarded
    assert tus.patch(path, 3, b"def", {"Upload-Checksum": _sum(algorithm, b"def")}).status_code == 204


def test_unknown_checksum_algorithm_is_400(tus: Tus) -> None:
    path = tus.new(6)
    r = tus.patch(path, 0, b"abc", {"Upload-Checksum": "crc32 AAAAAA=="})
    assert r.status_code == 400 and "sha1" in r.text
    assert tus.head(path).headers["upload-offset"] == "0"


def _chunked_patch(tus: Tus, path: str, offset: int, pieces: list[bytes]) -> httpx.Response:
    """A PATCH whose body has no Content-Length (Transfer-Encoding: chunked)."""
    headers = {**tus.auth, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    return tus.http.patch(path, headers=headers, content=iter(pieces))


def _stored(settings: IngestSettings, path: str) -> bytes:
    key = f"originals/{path.rsplit('/', 1)[-1]}"
    return open_store(settings.storage).get_bytes(settings.storage.staging_bucket, key)


def test_body_beyond_length_is_413_and_nothing_is_kept(tus: Tus, queue) -> None:
    path = tus.new(4)
    r = tus.patch(path, 0, b"abcdef")
    assert r.status_code == 413
    assert tus.head(path).headers["upload-offset"] == "0"
    assert tus.patch(path, 0, b"abcd").status_code == 204


def test_chunked_body_beyond_length_is_refused_whole(tus: Tus, settings: IngestSettings, queue) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    path = tus.new(len(data))
    assert tus.patch(path, 0, data[:5]).status_code == 204
    # Several batches of it reach storage before its last bytes run past Upload-Length.
    too_long = data[5:] + b"!"
    r = _chunked_patch(tus, path, 5, [too_long[i : i + 65536] for i in range(0, len(too_long), 65536)])
    assert r.status_code == 413 and "Upload-Length" in r.text
    head = tus.head(path)
    assert head.headers["upload-offset"] == "5"  # not one byte of it kept, and not completed from it
    assert tus.get("/assets").json()[0]["state"] == "uploading"
    r = _chunked_patch(tus, path, 5, [data[5 : 2 * 1024 * 1024], data[2 * 1024 * 1024 :]])
    assert r.status_code == 204 and r.headers["upload-offset"] == str(len(data))
    assert _stored(settings, path) == data


def test_patch_on_a_completed_upload_is_refused(tus: Tus, settings: IngestSettings, queue) -> None:
    path = tus.new(5)
    assert tus.patch(path, 0, b"abcde").status_code == 204
    r = tus.patch(path, 5, b"fgh")
    assert r.status_code == 403 and "complete" in r.text
    r = _chunked_patch(tus, path, 5, [b"", b"fgh"])
    assert r.status_code == 403
    assert tus.patch(path, 2, b"cde").status_code == 409
    head = tus.head(path)
    assert head.headers["upload-offset"] == "5"
    assert _stored(settings, path) == b"abcde"
    assert tus.get("/assets").json()[0]["state"] == "failed"  # five bytes of text: no second verdict


def test_completion_queues_exactly_one_job_even_when_retried(tus: Tus, queue) -> None:
    path = tus.new(5)
    tus.patch(path, 0, b"ab")
    assert tus.patch(path, 2, b"cde").status_code == 204
    # The client never saw the answer and retries the last PATCH, then probes with HEAD.
    r = tus.patch(path, 2, b"cde")
    assert r.status_code == 409
    r = tus.patch(path, 5, b"")
    assert r.status_code == 204 and r.headers["upload-offset"] == "5"
    assert tus.head(path).headers["upload-offset"] == "5"
    asset = tus.get("/assets").json()[0]
    assert asset["state"] == "failed"  # five bytes of text are not a video
    assert queue() == []
