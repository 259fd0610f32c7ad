"""The page app over httpx.ASGITransport: pages carry their configuration, static files are served,
and mounted at "/" on the ingest app it leaves the API routes alone."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from web.app import STATIC_DIR, VENDOR_FILES, create_web_app, page_config, render_page
from web.settings import WebSettings


def config_of(html: str) -> dict[str, object]:
    match = re.search(r'<script id="config" type="application/json">(.*?)</script>', html, re.S)
    assert match, html[:500]
    return dict(json.loads(match.group(1)))


@pytest.mark.anyio
async def test_pages_carry_config_and_static_files_are_served() -> None:
    app = create_web_app(WebSettings(api_base_url="http://api.example/", poll_interval_ms=500))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://page") as client:
        index = await client.get("/")
        assert index.status_code == 200 and "text/html" in index.headers["content-type"]
        config = config_of(index.text)
        assert config["api"] == "http://api.example" and config["pollMs"] == 500
        assert "token" not in config and "key" not in config
        watch = await client.get("/watch/abc123")
        assert watch.status_code == 200 and "player.js" in watch.text
        embed = await client.get("/embed/abc123")
        assert embed.status_code == 200 and "player.js" in embed.text and 'data-embed="1"' in embed.text
        js = await client.get("/static/uploads.js")
        assert js.status_code == 200 and "tus.Upload" in js.text
        # The key the operator pastes is sent by the page's JS, from the browser's storage.
        auth = await client.get("/static/auth.js")
        assert auth.status_code == 200 and "localStorage" in auth.text and "Bearer" in auth.text
        assert (await client.get("/static/../app.py")).status_code == 404


def test_nothing_closes_the_script_element() -> None:
    config = page_config(WebSettings(api_base_url="http://x/</script><script>alert(1)</script>"), [])
    html = render_page("index.html", config)
    assert config_of(html)["api"] == "http://x/</script><script>alert(1)</script>"


@pytest.mark.anyio
async def test_mounted_last_the_api_routes_still_match_first() -> None:
    async def assets(request: object) -> JSONResponse:
        return JSONResponse([])

    api = Starlette(routes=[Route("/assets", assets), Mount("/", create_web_app(WebSettings()))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://ingest") as client:
        assert (await client.get("/assets")).json() == []
        assert "Upload videos" in (await client.get("/")).text


@pytest.mark.anyio
async def test_a_build_made_after_start_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    static = tmp_path / "static"
    shutil.copytree(STATIC_DIR, static, ignore=shutil.ignore_patterns("vendor"))
    app = create_web_app(WebSettings(), static_dir=static)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://page") as client:
        before = config_of((await client.get("/")).text)["missing"]
        assert isinstance(before, list) and len(before) == len(VENDOR_FILES) == 4 and "npm run build" in before[0]
        (static / "vendor").mkdir()
        for name in VENDOR_FILES:  # what `npm run build` writes
            (static / "vendor" / name).write_text("// vendored")
        assert config_of((await client.get("/")).text)["missing"] == []
        assert config_of((await client.get("/watch/abc")).text)["missing"] == []
        assert (await client.get("/static/vendor/hls.min.js")).text == "// vendored"
