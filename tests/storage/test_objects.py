"""The object-store contract, run against both adapters: the filesystem and S3 (moto's server)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from storage.errors import InvalidKey, ObjectMissing
from storage.filesystem import FilesystemObjectStore
from storage.objects import ObjectStore
from storage.s3 import S3ObjectStore
from tests.s3 import moto_server


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["filesystem", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "filesystem":
        s: ObjectStore = FilesystemObjectStore(tmp_path / "objects")
    else:
        endpoint = request.getfixturevalue("moto_endpoint")
        s = S3ObjectStore(endpoint, "testing", "testing", bucket_prefix=f"t{abs(hash(tmp_path)) % 10**8}-")
    s.ensure_bucket("media")
    return s


def test_put_stat_get(store: ObjectStore) -> None:
    info = store.put_bytes("media", "a/b/c.m4s", b"hello world", "video/iso.segment")
    assert info.size == 11 and info.etag
    assert store.stat("media", "a/b/c.m4s").size == 11
    assert store.get_bytes("media", "a/b/c.m4s") == b"hello world"
    assert b"".join(store.read_range("media", "a/b/c.m4s", 6, 10)) == b"world"
    assert b"".join(store.read_range("media", "a/b/c.m4s", 6)) == b"world"


def test_read_url_serves_byte_ranges_or_defers_to_the_local_path(store: ObjectStore) -> None:
    store.put_bytes("media", "a/original.mp4", bytes(range(256)) * 64)
    url = store.read_url("media", "a/original.mp4", timedelta(minutes=5))
    if url is None:  # the filesystem backend: ffmpeg reads the file in place
        assert store.local_path("media", "a/original.mp4") is not None
        return
    # What ffmpeg does with it: plain GETs with a Range and no credentials of its own.
    resp = httpx.get(url, headers={"Range": "bytes=256-511"})
    assert resp.status_code == 206 and resp.content == bytes(range(256))
    assert httpx.get(url).content == bytes(range(256)) * 64


def test_overwrite_changes_etag(store: ObjectStore) -> None:
    first = store.put_bytes("media", "k", b"one")
    second = store.put_bytes("media", "k", b"two!")
    assert second.size == 4 and store.get_bytes("media", "k") == b"two!"
    assert first.etag != second.etag


def test_missing(store: ObjectStore) -> None:
    with pytest.raises(ObjectMissing):
        store.stat("media", "nope")
    with pytest.raises(ObjectMissing):
        store.get_bytes("media", "nope")
    store.delete("media", "nope")  # not an error


def test_list_and_delete(store: ObjectStore, tmp_path: Path) -> None:
    for key in ["x/2", "x/1", "y/1"]:
        store.put_bytes("media", key, key.encode())
    assert [o.key for o in store.list("media", "x/")] == ["x/1", "x/2"]
    store.delete("media", "x/1")
    assert [o.key for o in store.list("media", "x/")] == ["x/2"]


def test_put_file_stream_and_download(store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    data = bytes(range(256)) * 4096  # 1 MiB
    src.write_bytes(data)
    store.put_file("media", "big.bin", src)
    store.put_stream("media", "big2.bin", io.BytesIO(data), len(data))
    dest = tmp_path / "dest.bin"
    store.download("media", "big2.bin", dest)
    assert dest.read_bytes() == data == store.get_bytes("media", "big.bin")


@pytest.mark.parametrize("key", ["", "/abs", "../escape", "a/../../b", "a//b", "a/./b", "nul\x00"])
def test_invalid_keys(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        store.put_bytes("media", key, b"x")


def test_filesystem_write_is_atomic_and_leaves_no_temp(tmp_path: Path) -> None:
    store = FilesystemObjectStore(tmp_path)
    store.ensure_bucket("media")

    class Broken(io.BytesIO):
        def read(self, n: int = -1) -> bytes:
            raise OSError("disk on fire")

    store.put_bytes("media", "k", b"old")
    with pytest.raises(OSError):
        store.put_stream("media", "k", Broken(), 10)
    assert store.get_bytes("media", "k") == b"old"
    assert [p.name for p in (tmp_path / "media").iterdir()] == ["k"]


def _open_fds() -> int:
    return len(list(Path("/proc/self/fd").iterdir()))


def test_a_read_releases_its_file_when_dropped_unstarted_or_half_read(tmp_path: Path) -> None:
    """An origin response whose client left before its body was sent drops the chunks unstarted."""
    store = FilesystemObjectStore(tmp_path / "objects")
    store.ensure_bucket("media")
    store.put_bytes("media", "a/seg.m4s", bytes(600 * 1024))
    before = _open_fds()
    unstarted = store.read_range("media", "a/seg.m4s")
    assert _open_fds() == before + 1
    del unstarted
    assert _open_fds() == before
    half = store.read_range("media", "a/seg.m4s", 1, 300 * 1024)
    assert len(next(half)) > 0
    del half
    assert _open_fds() == before
    assert sum(map(len, store.read_range("media", "a/seg.m4s", 1, 300 * 1024))) == 300 * 1024
    assert _open_fds() == before
