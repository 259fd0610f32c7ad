"""The web page as a Starlette app: three HTML pages with their configuration inlined, and static files.

    create_web_app(WebSettings())  ->  mount at "/" on the ingest app

Pages: `/` (the creator page: drag-and-drop uploads with tus-js-client, the asset list with live state,
search, filters, edit, copy URL / embed code, delete after confirming), `/watch/{asset_id}` (hls.js or
dash.js inside media-chrome's controls: quality, audio and captions menus, storyboard thumbnails on
the seek bar, poster, an error overlay) and `/embed/{asset_id}` (the same player alone, for an
`<iframe>` on other sites: no key, `?token=` for private assets). All call the ingest API from the
browser; nothing here touches the catalog, so the page can be served from anywhere that reaches the
API. The pages hold no secret: the operator signs in by pasting an API key, which stays in the
browser (static/auth.js).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from web.settings import WebSettings

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES = HERE / "templates"
VENDOR_FILES = ("tus.min.js", "hls.min.js", "dash.all.min.js", "media-chrome.js")


def missing_vendor_files(static_dir: Path = STATIC_DIR) -> list[str]:
    """Front-end libraries absent from static/vendor: the npm build step has not run."""
    return [name for name in VENDOR_FILES if not (static_dir / "vendor" / name).is_file()]


def page_config(settings: WebSettings, missing: list[str]) -> dict[str, object]:
    return {
        "api": settings.api_base_url.rstrip("/"),
        "pollMs": settings.poll_interval_ms,
        "chunkBytes": settings.upload_chunk_bytes,
        # Shown on the page: the API keeps working even when the page cannot.
        "missing": [f"static/vendor/{name} (run `npm ci && npm run build` in web/)" for name in missing],
    }


def render_page(template: str, config: dict[str, object]) -> str:
    # "</" is escaped so no value can close the <script> element it is inlined in.
    blob = json.dumps(config).replace("</", "<\\/")
    page = (TEMPLATES / template).read_text()
    if "{{player}}" in page:  # the player fragment shared by the watch and embed pages
        page = page.replace("{{player}}", (TEMPLATES / "player.html").read_text())
    return page.replace("{{config}}", blob)


def create_web_app(settings: WebSettings, static_dir: Path = STATIC_DIR) -> Starlette:
    """The page app. Never fails for lack of the npm build step (that would take the ingest API down
    with it): the page then says what is missing, and picks up a build made later on its next load
    (checked per page request: three stat calls and the template read), without a restart."""
    missing = missing_vendor_files(static_dir)
    if missing:
        log.warning("web page without front-end libraries %s: run `npm ci && npm run build` in %s", missing, HERE)

    def page(name: str) -> Response:
        html = render_page(name, page_config(settings, missing_vendor_files(static_dir)))
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    async def index_page(request: Request) -> Response:
        return page("index.html")

    async def watch_page(request: Request) -> Response:
        return page("watch.html")

    async def embed_page(request: Request) -> Response:
        # Shown in other sites' <iframe>s: no framing restriction here (the player page keeps none
        # either); it holds no key and reads the keyless embed endpoint (ingest/embed.py).
        return page("embed.html")

    return Starlette(
        routes=[
            Route("/", index_page),
            Route("/watch/{asset_id}", watch_page),
            Route("/embed/{asset_id}", embed_page),
            Mount("/static", StaticFiles(directory=static_dir), name="static"),
        ]
    )
