"""Concatenation: partial uploads, a final upload assembled from them, 403 on PATCHing the final."""

from __future__ import annotations

import hashlib

from catalog.models import Upload
from catalog.session import Catalog
from tests.ingest.harness import Tus, metadata


def test_partials_concatenate_into_one_original(tus: Tus, settings, queue) -> None:
    pieces = [b"a" * 1000, b"b" * 10, b"c" * 333]
    paths = []
    for piece in pieces:
        path = tus.new(len(piece), headers={"Upload-Concat": "partial"})
        assert tus.head(path).headers["upload-concat"] == "partial"
        assert tus.patch(path, 0, piece).status_code == 204
        paths.append(path)
    final = tus.create(
        headers={
            "Upload-Concat": "final;" + " ".join(paths),
            "Upload-Metadata": metadata(filename="whole.mp4"),
        }
    )
    assert final.status_code == 201
    final_path = tus.path_of(final)
    head = tus.head(final_path)
    total = sum(map(len, pieces))
    assert head.headers["upload-length"] == str(total)
    assert head.headers["upload-offset"] == str(total)
    assert head.headers["upload-concat"] == "final;" + " ".join(paths)
    r = tus.patch(final_path, total, b"x")
    assert r.status_code == 403
    catalog = Catalog(settings.catalog, apply_migrations=False)
    with catalog.session() as s:
        row = s.get(Upload, final_path.rsplit("/", 1)[-1])
        assert row.sha256 == hashlib.sha256(b"".join(pieces)).hexdigest()
        assert row.staging_key == f"originals/{row.id}"
    catalog.dispose()
    assets = tus.get("/assets").json()
    assert [a["title"] for a in assets] == ["whole.mp4"]  # partial uploads have no asset


def test_final_needs_finished_partials(tus: Tus) -> None:
    path = tus.new(10, headers={"Upload-Concat": "partial"})
    tus.patch(path, 0, b"12345")
    r = tus.create(headers={"Upload-Concat": f"final;{path}"})
    assert r.status_code == 400 and "not finished" in r.text
    whole = tus.new(3)
    r = tus.create(headers={"Upload-Concat": f"final;{whole}"})
    assert r.status_code == 400 and "not a partial" in r.text
