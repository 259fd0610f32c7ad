"""A download (static MP4) through origin, shield and edge: Content-Disposition kept, ranges answered
from every tier, on a miss and on a hit alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cdn_edge.app import create_app as create_edge
from origin.app import create_app as create_origin
from tests.cdn_edge.edge_stack import edge_settings, origin_settings, publish

pytestmark = pytest.mark.anyio

KEY = "a1b2c3/a1/downloads/My-Clip-360p.mp4"
BODY = bytes(range(251)) * 4096  # ~1 MiB, every offset distinguishable mod 251


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["origin", "shield", "edge"])
async def client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store = publish(tmp_path / "objects")
    store.put_bytes("media", KEY, BODY, "video/mp4")
    app = create_origin(origin_settings(tmp_path / "objects"), store=store)
    transport = httpx.ASGITransport(app=app)
    if request.param in ("shield", "edge"):
        app = create_edge(edge_settings(tmp_path, "shield", "shield", "http://origin"), transport=transport)
        if request.param == "edge":
            shield = httpx.ASGITransport(app=app)
            app = create_edge(edge_settings(tmp_path, "edge", "edge", "http://shield"), transport=shield)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node") as c:
        yield c


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [
        ("bytes=0-1023", 0, 1023),
        ("bytes=500000-", 500000, len(BODY) - 1),
        ("bytes=-4096", len(BODY) - 4096, len(BODY) - 1),
    ],
)
async def test_ranges_and_disposition(client: httpx.AsyncClient, range_header: str, start: int, end: int) -> None:
    for attempt in ("miss", "hit"):  # the second answer comes from the node's cache
        whole = await client.get(f"/{KEY}")
        assert whole.status_code == 200 and whole.content == BODY, attempt
        assert whole.headers["content-disposition"] == 'attachment; filename="My-Clip-360p.mp4"'
        assert whole.headers["content-type"] == "video/mp4"
        assert whole.headers["accept-ranges"] == "bytes"
        part = await client.get(f"/{KEY}", headers={"range": range_header})
        assert part.status_code == 206, attempt
        assert part.headers["content-range"] == f"bytes {start}-{end}/{len(BODY)}"
        assert part.content == BODY[start : end + 1]
        assert part.headers["content-disposition"] == 'attachment; filename="My-Clip-360p.mp4"'


async def test_segments_get_no_disposition(client: httpx.AsyncClient) -> None:
    answer = await client.get("/a1b2c3/360p/seg_00001.m4s")
    assert answer.status_code == 200 and "content-disposition" not in answer.headers
