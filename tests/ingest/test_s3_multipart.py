"""The S3 backend's multipart bookkeeping: full parts, a tail temp object, offset read from storage."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from catalog.models import Upload
from catalog.session import Catalog
from ingest.stores.s3 import TAIL_PREFIX
from tests.ingest.harness import Tus

MIB = 1024 * 1024


@pytest.fixture
def backend() -> str:
    return "s3"


@pytest.mark.s3
def test_parts_tail_and_offset_come_from_storage(tus: Tus, server, settings) -> None:
    ingest = server.server.config.app.state.ingest
    data = os.urandom(13 * MIB + 123)
    path = tus.new(len(data))
    upload_id = path.rsplit("/", 1)[-1]
    part_size = 8 * MIB
    # Irregular chunks: the first leaves a tail, the second crosses a part boundary, one is a byte.
    cuts = [3 * MIB, 7 * MIB, 7 * MIB + 1, len(data)]
    offset = 0
    for i, cut in enumerate(cuts):
        chunk = data[offset:cut]
        headers = {}
        if i == 1:
            headers["Upload-Checksum"] = "sha256 " + base64.b64encode(hashlib.sha256(chunk).digest()).decode()
        r = tus.patch(path, offset, chunk, headers)
        assert r.status_code == 204, r.text
        offset = cut
        assert r.headers["upload-offset"] == str(offset)
        if offset < len(data):
            upload = _info(settings, upload_id)
            parts = ingest.store.multipart.parts(
                settings.storage.staging_bucket, upload.target_key, upload.store_state["multipart_id"]
            )
            assert all(p.size == part_size for p in parts)
            tails = [i.key for i in ingest.objects.list(settings.storage.staging_bucket, f"{TAIL_PREFIX}/")]
            stored_tail = offset - len(parts) * part_size
            assert len(tails) == (1 if stored_tail else 0)
            assert ingest.store.offset(upload, settings.storage.staging_bucket) == offset
    staged = b"".join(ingest.objects.read_range(settings.storage.staging_bucket, f"originals/{upload_id}"))
    assert staged == data
    assert list(ingest.objects.list(settings.storage.staging_bucket, f"{TAIL_PREFIX}/")) == []
    assert list(ingest.store.multipart.pending(settings.storage.staging_bucket, "originals/")) == []
    assert _info(settings, upload_id).sha256 == hashlib.sha256(data).hexdigest()


def _info(settings, upload_id):  # type: ignore[no-untyped-def]
    from ingest.uploads import to_info

    catalog = Catalog(settings.catalog, apply_migrations=False)
    try:
        with catalog.session() as s:
            return to_info(s.get(Upload, upload_id))
    finally:
        catalog.dispose()


def test_the_s3_store_needs_the_multipart_slot(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ingest.stores.s3 import S3UploadStore
    from storage.filesystem import FilesystemObjectStore

    with pytest.raises(TypeError, match="multipart"):
        S3UploadStore(FilesystemObjectStore(tmp_path), "staging", scratch_dir=tmp_path, max_size=1, part_size=1)
