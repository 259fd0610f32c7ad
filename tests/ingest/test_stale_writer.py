"""Storage-level fencing on the filesystem backend: a writer that stalled past a lock takeover and wakes
up later must not corrupt the upload its successor continued."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from ingest.store import UploadInfo
from ingest.stores.filesystem import FilesystemUploadStore
from storage.filesystem import FilesystemObjectStore

UPLOAD_ID = "ab" * 16


@pytest.fixture
def store(tmp_path: Path) -> FilesystemUploadStore:
    objects = FilesystemObjectStore(tmp_path / "objects")
    objects.ensure_bucket("staging")
    return FilesystemUploadStore(tmp_path / "spool", objects)


def _upload(length: int) -> UploadInfo:
    return UploadInfo(id=UPLOAD_ID, state="receiving", length=length, offset=0)


@pytest.mark.parametrize("verify", [False, True], ids=["plain", "checksummed"])
def test_a_stale_writer_rewrites_its_bytes_in_place(store: FilesystemUploadStore, verify: bool) -> None:
    data = os.urandom(3000)
    upload = _upload(len(data))
    store.create(upload.id, upload.target_key, upload.length)
    stale = store.writer(upload, 0, verify=False)
    stale.write(data[:1000])  # then its holder wedges; the lock is taken over
    taken_at = store.offset(upload, "staging")
    assert taken_at == 1000  # what storage holds, acknowledged or not
    successor = store.writer(upload, taken_at, verify=verify)
    successor.write(data[1000:3000])
    successor.digest(data[1000:3000])
    assert successor.commit() == 3000
    # The stale holder wakes up and writes the batch it had received, then commits.
    stale.write(data[1000:2000])
    stale.digest(data[1000:2000])
    assert stale.commit() == 3000
    digest = store.finish(upload, "staging")
    stored = b"".join(store.objects.read_range("staging", upload.target_key))
    assert stored == data
    assert digest == hashlib.sha256(data).hexdigest()


def test_a_stale_checksummed_writer_keeps_its_chunk_apart(store: FilesystemUploadStore) -> None:
    data = os.urandom(4000)
    upload = _upload(len(data))
    store.create(upload.id, upload.target_key, upload.length)
    stale = store.writer(upload, 0, verify=True)
    stale.write(data[:1000])  # verified chunks wait in a side file until commit
    successor = store.writer(upload, 0, verify=True)
    successor.write(data[:2500])
    assert successor.commit() == 2500
    assert stale.commit() == 2500  # its chunk lands on the same bytes
    tail = store.writer(upload, 2500, verify=False)
    tail.write(data[2500:])
    assert tail.commit() == 4000
    store.finish(upload, "staging")
    assert b"".join(store.objects.read_range("staging", upload.target_key)) == data
    assert not list(store.spool_dir.glob("*.chunk"))
