"""RFC 9110 conditional and range cases, asked of origin, shield and edge alike (same assertions)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cdn_edge.app import create_app as create_edge
from tests.cdn_edge.edge_stack import MASTER, PLAYLIST, SEGMENT, SEGMENT_BYTES, edge_settings, make_origin

pytestmark = pytest.mark.anyio

SIZE = len(SEGMENT_BYTES)


@pytest.fixture(params=["origin", "shield", "edge"])
async def client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = make_origin(tmp_path)
    if request.param in ("shield", "edge"):
        shield = create_edge(
            edge_settings(tmp_path, "shield", "shield", "http://origin"),
            transport=httpx.ASGITransport(app=app),
        )
        app = shield
        if request.param == "edge":
            app = create_edge(
                edge_settings(tmp_path, "edge", "edge", "http://shield"),
                transport=httpx.ASGITransport(app=shield),
            )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node") as c:
        yield c


@pytest.mark.parametrize(
    ("range_header", "status", "content_range", "body"),
    [
        ("bytes=0-99", 206, f"bytes 0-99/{SIZE}", SEGMENT_BYTES[:100]),  # first bytes
        ("bytes=100-", 206, f"bytes 100-{SIZE - 1}/{SIZE}", SEGMENT_BYTES[100:]),  # open-ended
        ("bytes=-500", 206, f"bytes {SIZE - 500}-{SIZE - 1}/{SIZE}", SEGMENT_BYTES[-500:]),  # suffix
        (
            f"bytes={SIZE - 1}-{SIZE + 99}",
            206,
            f"bytes {SIZE - 1}-{SIZE - 1}/{SIZE}",
            SEGMENT_BYTES[-1:],
        ),  # last
        (f"bytes=-{SIZE * 2}", 206, f"bytes 0-{SIZE - 1}/{SIZE}", SEGMENT_BYTES),  # suffix larger than object
        (f"bytes={SIZE}-", 416, f"bytes */{SIZE}", None),  # starts past the end
        ("bytes=-0", 416, f"bytes */{SIZE}", None),  # empty suffix
        ("bytes=0-1,5-9", 200, None, SEGMENT_BYTES),  # multi-range: ignored, whole object
        ("bytes=9-2", 200, None, SEGMENT_BYTES),  # malformed: ignored
        ("items=0-1", 200, None, SEGMENT_BYTES),  # unknown unit: ignored
    ],
)
async def test_ranges(
    client: httpx.AsyncClient, range_header: str, status: int, content_range: str | None, body: bytes | None
) -> None:
    first = await client.get(f"/{SEGMENT}")  # warm the caches: the cases hold on hits and misses alike
    assert first.content == SEGMENT_BYTES
    r = await client.get(f"/{SEGMENT}", headers={"range": range_header})
    assert r.status_code == status
    assert r.headers.get("content-range") == content_range
    assert r.headers["access-control-allow-origin"] == "*"
    if body is not None:
        assert r.content == body
        assert int(r.headers["content-length"]) == len(body)


async def test_range_on_a_miss_is_served_from_the_whole_object(client: httpx.AsyncClient) -> None:
    r = await client.get(f"/{SEGMENT}", headers={"range": "bytes=1000-1999"})
    assert (r.status_code, r.content) == (206, SEGMENT_BYTES[1000:2000])
    full = await client.get(f"/{SEGMENT}")
    assert full.content == SEGMENT_BYTES


async def test_conditionals(client: httpx.AsyncClient) -> None:
    r = await client.get(f"/{SEGMENT}")
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["content-type"] == "video/iso.segment"

    not_modified = await client.get(f"/{SEGMENT}", headers={"if-none-match": etag})
    assert (not_modified.status_code, not_modified.content) == (304, b"")
    assert not_modified.headers["etag"] == etag
    assert (await client.get(f"/{SEGMENT}", headers={"if-none-match": f'"x", W/{etag}'})).status_code == 304
    assert (await client.get(f"/{SEGMENT}", headers={"if-none-match": "*"})).status_code == 304
    assert (await client.get(f"/{SEGMENT}", headers={"if-none-match": '"other"'})).status_code == 200
    assert (await client.get(f"/{SEGMENT}", headers={"if-modified-since": modified})).status_code == 304
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert (await client.get(f"/{SEGMENT}", headers={"if-modified-since": old})).status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    both = await client.get(f"/{SEGMENT}", headers={"if-none-match": '"other"', "if-modified-since": modified})
    assert both.status_code == 200
    assert (await client.get(f"/{SEGMENT}", headers={"if-match": '"other"'})).status_code == 412
    assert (await client.get(f"/{SEGMENT}", headers={"if-unmodified-since": old})).status_code == 412
    assert (await client.head(f"/{SEGMENT}", headers={"if-none-match": etag})).status_code == 304


async def test_if_range(client: httpx.AsyncClient) -> None:
    r = await client.get(f"/{SEGMENT}")
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    same = await client.get(f"/{SEGMENT}", headers={"range": "bytes=0-9", "if-range": etag})
    assert (same.status_code, same.content) == (206, SEGMENT_BYTES[:10])
    by_date = await client.get(f"/{SEGMENT}", headers={"range": "bytes=0-9", "if-range": modified})
    assert by_date.status_code == 206
    changed = await client.get(f"/{SEGMENT}", headers={"range": "bytes=0-9", "if-range": '"stale"'})
    assert (changed.status_code, changed.content) == (200, SEGMENT_BYTES)
    weak = await client.get(f"/{SEGMENT}", headers={"range": "bytes=0-9", "if-range": f"W/{etag}"})
    assert weak.status_code == 200  # If-Range needs a strong match


async def test_head_and_types(client: httpx.AsyncClient) -> None:
    head = await client.head(f"/{SEGMENT}")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", str(SIZE))
    playlist = await client.get(f"/{PLAYLIST}")
    assert playlist.headers["content-type"] == "application/vnd.apple.mpegurl"
    cc = playlist.headers["cache-control"]
    assert "max-age=60" in cc and "stale-while-revalidate=" in cc and "stale-if-error=" in cc
    init = await client.get("/a1b2c3/360p/init.mp4")
    assert init.headers["content-type"] == "video/mp4"
    assert init.headers["cache-control"] == "public, max-age=31536000, immutable"
    # The master's only variant is finished, so the master is too.
    assert "stale-if-error" in (await client.get(f"/{MASTER}")).headers["cache-control"]


async def test_errors_carry_cors(client: httpx.AsyncClient) -> None:
    missing = await client.get("/a1b2c3/360p/seg_09999.m4s")
    assert missing.status_code == 404
    assert missing.headers["access-control-allow-origin"] == "*"
    assert "Content-Range" in missing.headers["access-control-expose-headers"]
    preflight = await client.options(
        f"/{SEGMENT}", headers={"origin": "http://player", "access-control-request-method": "GET"}
    )
    assert preflight.status_code == 204
    assert "Range" in preflight.headers["access-control-allow-headers"]


async def test_plain_hits_carry_the_same_headers(client: httpx.AsyncClient) -> None:
    first = await client.get(f"/{PLAYLIST}")
    for _ in range(50):  # until the cache has stored it (the fill writes after answering)
        second = await client.get(f"/{PLAYLIST}")
        if "fwd=" not in second.headers.get("cache-status", "").split(", ")[-1]:
            break
    assert second.content == first.content
    for name in ("content-type", "etag", "last-modified", "cache-control", "access-control-allow-origin"):
        assert second.headers[name] == first.headers[name]
    assert int(second.headers["content-length"]) == len(first.content)
