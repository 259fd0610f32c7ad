"""POST: creation, creation-with-upload, creation-defer-length, admission checks, Tus-Max-Size."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from ingest.app import create_app
from tests.ingest.conftest import TOKEN
from tests.ingest.harness import ServerThread, Tus, metadata


def test_create_returns_location_and_expiry(tus: Tus, settings) -> None:
    r = tus.create(100, headers={"Upload-Metadata": metadata(filename="a.mp4", filetype="video/mp4")})
    assert r.status_code == 201
    assert r.headers["tus-resumable"] == "1.0.0"
    location = r.headers["location"]
    assert location.startswith(str(tus.http.base_url).rstrip("/") + "/files/")
    expires = parsedate_to_datetime(r.headers["upload-expires"])
    expected = datetime.now(UTC) + timedelta(seconds=settings.upload_expiry_seconds)
    assert abs((expires - expected).total_seconds()) < 60
    head = tus.head(tus.path_of(r))
    assert head.headers["upload-offset"] == "0" and head.headers["upload-length"] == "100"


def test_creation_with_upload(tus: Tus) -> None:
    r = tus.create(10, headers={"Content-Type": "application/offset+octet-stream"}, content=b"0123456")
    assert r.status_code == 201 and r.headers["upload-offset"] == "7"
    assert tus.head(tus.path_of(r)).headers["upload-offset"] == "7"


def test_creation_with_upload_checksum_mismatch_keeps_the_upload_empty(tus: Tus) -> None:
    bad = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    r = tus.create(
        10,
        headers={"Content-Type": "application/offset+octet-stream", "Upload-Checksum": f"sha1 {bad}"},
        content=b"0123456",
    )
    assert r.status_code == 460


def test_defer_length(tus: Tus) -> None:
    path = tus.new(headers={"Upload-Defer-Length": "1"})
    head = tus.head(path)
    assert head.headers["upload-defer-length"] == "1" and "upload-length" not in head.headers
    assert tus.patch(path, 0, b"abc").status_code == 204
    r = tus.patch(path, 3, b"de", {"Upload-Length": "5"})
    assert r.status_code == 204 and r.headers["upload-offset"] == "5"
    head = tus.head(path)
    assert head.headers["upload-length"] == "5" and "upload-defer-length" not in head.headers


def test_defer_length_rules(tus: Tus) -> None:
    assert tus.create(headers={"Upload-Defer-Length": "2"}).status_code == 400
    assert tus.create(5, headers={"Upload-Defer-Length": "1"}).status_code == 400
    r = tus.create()
    assert r.status_code == 400 and "Upload-Length" in r.text
    path = tus.new(headers={"Upload-Defer-Length": "1"})
    tus.patch(path, 0, b"abcd")
    assert tus.patch(path, 4, b"", {"Upload-Length": "3"}).status_code == 400  # below what is stored


def test_zero_length_upload_completes_at_once(tus: Tus) -> None:
    path = tus.new(0)
    head = tus.head(path)
    assert head.status_code == 200 and head.headers["upload-offset"] == "0"


def test_malformed_headers_are_400_with_a_reason(tus: Tus) -> None:
    for headers, fragment in [
        ({"Upload-Length": "-1"}, "non-negative"),
        ({"Upload-Length": "ten"}, "non-negative"),
        ({"Upload-Length": "1", "Upload-Metadata": "filename %%%"}, "base64"),
        ({"Upload-Length": "1", "Upload-Metadata": "filename"}, "needs a value"),
        ({"Upload-Length": "1", "Upload-Concat": "sometimes"}, "Upload-Concat"),
    ]:
        r = tus.create(headers=headers)
        assert r.status_code == 400, headers
        assert fragment in r.text, (headers, r.text)


def test_non_video_declared_type_is_refused(tus: Tus) -> None:
    r = tus.create(10, headers={"Upload-Metadata": metadata(filename="cat.jpg", filetype="image/jpeg")})
    assert r.status_code == 415 and "image/jpeg" in r.text
    ok = tus.create(10, headers={"Upload-Metadata": metadata(filetype="video/quicktime")})
    assert ok.status_code == 201


def test_max_size_is_enforced(tus: Tus, settings) -> None:
    r = tus.create(settings.max_size + 1)
    assert r.status_code == 413 and "Tus-Max-Size" in r.text
    path = tus.new(headers={"Upload-Defer-Length": "1"})
    r = tus.patch(path, 0, b"", {"Upload-Length": str(settings.max_size + 1)})
    assert r.status_code == 413


def test_requests_answer_503_while_the_lock_backend_is_unreachable(settings) -> None:  # type: ignore[no-untyped-def]
    # Nothing listens on port 1: every Redis call is refused.
    unreachable = settings.model_copy(update={"lock_backend": "redis", "redis_url": "redis://127.0.0.1:1/0"})
    with ServerThread(create_app(unreachable, celery_app=object())) as server:
        tus = Tus(server.url, TOKEN)
        r = tus.create(10)
        assert r.status_code == 503 and "lock" in r.text
        tus.close()
