"""Purge by key and by asset prefix, authenticated."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cdn_edge.app import create_app as create_edge
from tests.cdn_edge.edge_stack import ASSET, PLAYLIST, SEGMENT, Instrumented, edge_settings, make_origin

pytestmark = pytest.mark.anyio


async def test_purge(tmp_path: Path) -> None:
    origin = Instrumented(make_origin(tmp_path))
    edge = create_edge(
        edge_settings(tmp_path, "edge", "edge", "http://origin", purge_token="letmein"),
        transport=httpx.ASGITransport(app=origin),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url="http://e") as c:
        for key in (SEGMENT, PLAYLIST, SEGMENT, PLAYLIST):
            await c.get(f"/{key}")
        assert origin.counts[SEGMENT] == origin.counts[PLAYLIST] == 1

        assert (await c.post("/_purge", json={"keys": [SEGMENT]})).status_code == 401
        bad = await c.post("/_purge", json={"keys": [SEGMENT]}, headers={"authorization": "Bearer nope"})
        assert bad.status_code == 401
        auth = {"authorization": "Bearer letmein"}
        r = await c.post("/_purge", json={"keys": [SEGMENT]}, headers=auth)
        assert r.json() == {"purged": 1}
        await c.get(f"/{SEGMENT}")
        await c.get(f"/{PLAYLIST}")
        assert (origin.counts[SEGMENT], origin.counts[PLAYLIST]) == (2, 1)

        r = await c.post("/_purge", json={"prefixes": [f"{ASSET}/"]}, headers=auth)
        # The segment's refill may still be on its way to disk: then it is discarded instead of counted.
        assert r.json()["purged"] in (1, 2)
        await c.get(f"/{SEGMENT}")
        await c.get(f"/{PLAYLIST}")
        assert (origin.counts[SEGMENT], origin.counts[PLAYLIST]) == (3, 2)


async def test_purge_disabled_without_token(tmp_path: Path) -> None:
    edge = create_edge(edge_settings(tmp_path, "edge", "edge", "http://origin"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url="http://e") as c:
        assert (await c.post("/_purge", json={"keys": ["a"]})).status_code == 404


async def test_purging_an_image_purges_every_variant(tmp_path: Path) -> None:
    # Images made on demand are cached per parameters (httpsemantics.variants, the scheme clips use):
    # purging the image's object key takes every variant with it, and nothing else.
    sent: list[str] = []

    async def images(request: Request) -> Response:
        sent.append(f"{request.url.path}?{request.url.query}")
        body = f"{request.url.path} {sorted(request.query_params.multi_items())}".encode()
        return Response(body, media_type="image/jpeg", headers={"cache-control": "public, max-age=3600"})

    upstream = Starlette(routes=[Route("/{key:path}", images)])
    edge = create_edge(
        edge_settings(tmp_path, "edge", "edge", "http://origin", purge_token="letmein"),
        transport=httpx.ASGITransport(app=upstream),
    )
    image, other = f"{ASSET}/thumbnail.jpg", "other/thumbnail.jpg"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url="http://e") as c:

        async def until_hit(key: str, query: str) -> httpx.Response:
            for _ in range(500):  # until the fill is stored (a fill still in flight would be discarded)
                r = await c.get(f"/{key}?{query}")
                if r.headers["cache-status"].endswith("edge; hit"):
                    return r
                await asyncio.sleep(0.01)
            raise AssertionError(f"{key}?{query} never became a hit")

        small = await until_hit(image, "width=64&time=1&token=")
        # One object per parameters, in any order, without the token; the origin is asked canonically.
        assert (await until_hit(image, "time=1&width=64")).content == small.content
        assert (await until_hit(image, "time=2")).content != small.content
        await until_hit(other, "time=1")
        assert sent == [f"/{image}?time=1&width=64", f"/{image}?time=2", f"/{other}?time=1"]

        auth = {"authorization": "Bearer letmein"}
        assert (await c.post("/_purge", json={"keys": [image]}, headers=auth)).json() == {"purged": 2}
        for query in ("time=1&width=64", "time=2"):
            assert "edge; fwd=miss" in (await c.get(f"/{image}?{query}")).headers["cache-status"]
        assert (await c.get(f"/{other}?time=1")).headers["cache-status"].endswith("edge; hit")
        assert len(sent) == 5
