"""Origin-only behaviour: growing masters, store errors, HEAD, metrics. (RFC 9110 cases shared with
the caches are in tests/cdn_edge/test_http_semantics.py.)"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from origin.app import create_app
from origin.settings import OriginSettings
from storage.filesystem import FilesystemObjectStore
from storage.settings import StorageSettings
from tests.s3 import moto_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _app(tmp_path: Path) -> tuple[FilesystemObjectStore, httpx.AsyncClient]:
    store = FilesystemObjectStore(tmp_path)
    store.ensure_bucket("media")
    app = create_app(OriginSettings(storage=StorageSettings(root=tmp_path)), store=store)
    return store, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://o")


async def test_master_grows_until_every_variant_ends(tmp_path: Path) -> None:
    store, client = _app(tmp_path)
    store.put_bytes("media", "a/master.m3u8", b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n")
    async with client:
        # Variant not published yet: growing, short default TTL.
        assert (await client.get("/a/master.m3u8")).headers["cache-control"] == "public, max-age=1"
        store.put_bytes("media", "a/v/index.m3u8", b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\ns.m4s\n")
        assert (await client.get("/a/master.m3u8")).headers["cache-control"] == "public, max-age=2"
        assert (await client.get("/a/v/index.m3u8")).headers["cache-control"] == "public, max-age=2"
        store.put_bytes(
            "media", "a/v/index.m3u8", b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\ns.m4s\n#EXT-X-ENDLIST\n"
        )
        assert "stale-if-error" in (await client.get("/a/master.m3u8")).headers["cache-control"]


async def test_paths_outside_the_bucket_are_not_found(tmp_path: Path) -> None:
    _, client = _app(tmp_path)
    async with client:
        for path in ("/../etc/passwd", "/a/../../x", "/%2e%2e/x"):
            r = await client.get(path)
            # 400 for a traversal that arrives as sent (tests/security/test_paths.py), 404 for the path
            # httpx makes of it once it has removed the dot segments.
            assert r.status_code in (400, 404)
            assert r.headers["access-control-allow-origin"] == "*"


async def test_metrics_and_health(tmp_path: Path) -> None:
    store, client = _app(tmp_path)
    store.put_bytes("media", "a/v/seg_00001.m4s", b"x" * 10)
    async with client:
        assert (await client.get("/healthz")).status_code == 200
        await client.get("/a/v/seg_00001.m4s")
        text = (await client.get("/metrics")).text
        assert 'vodstack_origin_requests_total{code="200",kind="segment"} 1.0' in text
        assert 'vodstack_origin_served_bytes_total{kind="segment"} 10.0' in text


@pytest.mark.s3
async def test_origin_over_s3(tmp_path: Path) -> None:
    from storage.s3 import S3ObjectStore

    with moto_server() as endpoint:
        store = S3ObjectStore(endpoint, "testing", "testing", bucket_prefix="origin-")
        store.ensure_bucket("media")
        data = bytes(range(256)) * 1000
        store.put_bytes("media", "a/v/seg_00001.m4s", data)
        app = create_app(OriginSettings(storage=StorageSettings(backend="s3")), store=store)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://o") as client:
            full = await client.get("/a/v/seg_00001.m4s")
            assert full.content == data
            part = await client.get("/a/v/seg_00001.m4s", headers={"range": "bytes=1000-1999"})
            assert (part.status_code, part.content) == (206, data[1000:2000])
            assert (
                await client.get("/a/v/seg_00001.m4s", headers={"if-none-match": full.headers["etag"]})
            ).status_code == 304
            assert (await client.get("/a/v/none.m4s")).status_code == 404


async def test_catalog_access_classes(tmp_path: Path) -> None:
    from catalog.models import Asset
    from catalog.session import Catalog
    from catalog.settings import CatalogSettings

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    catalog = Catalog(CatalogSettings(url=url))
    with catalog.session() as s:
        s.add_all([Asset(id="pub", public=True), Asset(id="priv", public=False)])
    store = FilesystemObjectStore(tmp_path / "objects")
    store.ensure_bucket("media")
    for asset in ("pub", "priv", "unknown"):
        store.put_bytes("media", f"{asset}/v/seg_00001.m4s", b"x")
    settings = OriginSettings(
        storage=StorageSettings(root=tmp_path / "objects"), catalog=CatalogSettings(url=url), access="catalog"
    )
    app = create_app(settings, store=store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://o") as client:
        classes = {
            a: (await client.get(f"/{a}/v/seg_00001.m4s")).headers["x-vodstack-access"]
            for a in ("pub", "priv", "unknown")
        }
    assert classes == {"pub": "public", "priv": "signed", "unknown": "signed"}
    catalog.dispose()
