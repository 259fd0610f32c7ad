"""HEAD: offset from storage, no caching, metadata echoed, 404/410."""

from __future__ import annotations

from tests.ingest.harness import Tus, metadata


def test_head_reports_offset_length_metadata_no_store(tus: Tus) -> None:
    meta = metadata(filename="clip.mp4")
    path = tus.new(10, headers={"Upload-Metadata": meta})
    tus.patch(path, 0, b"12345")
    r = tus.head(path)
    assert r.status_code == 200
    assert r.headers["upload-offset"] == "5"
    assert r.headers["upload-length"] == "10"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["upload-metadata"] == meta
    assert "upload-expires" in r.headers
    assert r.content == b""


def test_unknown_and_escaping_ids_are_404(tus: Tus) -> None:
    for path in ["/files/0123456789abcdef0123456789abcdef", "/files/..%2F..%2Fetc%2Fpasswd", "/files/%2e%2e"]:
        r = tus.head(path)
        assert r.status_code == 404, path
        r = tus.patch(path, 0, b"x")
        assert r.status_code == 404, path
