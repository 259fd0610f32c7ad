"""PATCH: offsets, content type, checksums, limits, completion, retried final PATCH."""

from __future__ import annotations

import base64
import hashlib

import pytest

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


def test_body_beyond_length_is_413(tus: Tus) -> None:
    path = tus.new(4)
    r = tus.patch(path, 0, b"abcdef")
    assert r.status_code == 413
    assert int(tus.head(path).headers["upload-offset"]) <= 4


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
