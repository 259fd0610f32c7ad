"""What the origin and edges refuse, and that nothing refused reaches ffmpeg: bounds and garbage (400),
unknown assets (404), assets not ready (409), tokens (403), a full origin (503 + Retry-After)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import pytest

from cdn_edge.app import create_app as create_edge
from images.published import Lookup, catalog_lookup
from images.settings import ImageSettings
from origin.app import create_app as create_origin
from playback.signing import sign_token
from storage.filesystem import FilesystemObjectStore
from tests.cdn_edge.edge_stack import edge_settings
from tests.images.conftest import Published

pytestmark = pytest.mark.ffmpeg
SECRET = "image-secret"

# (query, what the message says). Bounds that need the asset (its duration 8 s, its top rung 640
# wide) are found from the catalog and the playlists, still before ffmpeg.
REFUSED = [
    ("thumbnail.jpg?", "time is required"),
    ("thumbnail.jpg?time=nan", "time must be seconds"),
    ("thumbnail.jpg?time=inf", "time must be seconds"),
    ("thumbnail.jpg?time=1e3", "time must be seconds"),
    ("thumbnail.jpg?time=-1", "time must be seconds"),
    ("thumbnail.jpg?time=1.2345", "time must be seconds"),
    ("thumbnail.jpg?time=" + "9" * 5000, "time must be seconds"),
    ("thumbnail.jpg?time=%00%ff;rm%20-rf", "time must be seconds"),
    ("thumbnail.jpg?time=8.001", "between 0 and 8"),
    ("thumbnail.jpg?time=1&width=15", "width must be between 16 and 1920"),
    ("thumbnail.jpg?time=1&width=1921", "width must be between 16 and 1920"),
    ("thumbnail.jpg?time=1&width=99999999999", "width must be a whole number"),
    ("thumbnail.jpg?time=1&width=641", "at most 640 pixels"),
    ("thumbnail.jpg?time=1&time=2", "more than once"),
    ("thumbnail.jpg?time=1&vf=scale", "unknown parameter 'vf'"),
    ("thumbnail.webp?time=1&start=1", "unknown parameter 'start'"),
    ("animated.webp?start=1", "end is required"),
    ("animated.webp?start=3&end=3", "end must be after start"),
    ("animated.webp?start=0&end=10.001", "at most 10 s"),
    ("animated.webp?start=7&end=9", "end must be at most 8"),
    ("animated.webp?start=0&end=1&fps=16", "fps must be between 1 and 15"),
    ("animated.webp?start=0&end=1&fps=0", "fps must be between 1 and 15"),
    ("animated.webp?start=0&end=1&width=641", "between 16 and 640"),
    ("animated.webp?start=0&end=1&time=1", "unknown parameter 'time'"),
]


def _recording_ffmpeg(tmp_path: Path) -> tuple[str, Path]:
    """A stand-in for ffmpeg that records each call and fails (so a call that slipped through is seen)."""
    log = tmp_path / "calls.log"
    script = tmp_path / "ffmpeg"
    script.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexit 1\n')
    script.chmod(0o755)
    return str(script), log


def _get(app: object, path: str, **kwargs: object) -> httpx.Response:
    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://o") as client:
            return await client.get(path, **kwargs)  # type: ignore[arg-type]

    return anyio.run(get)


def test_out_of_bounds_and_garbage_never_reach_ffmpeg(published: Published, tmp_path: Path) -> None:
    ffmpeg, calls = _recording_ffmpeg(tmp_path)
    app = create_origin(
        published.origin_settings(images=ImageSettings(ffmpeg=ffmpeg)),
        store=FilesystemObjectStore(published.root / "objects"),
    )
    for query, message in REFUSED:
        r = _get(app, f"/{published.asset_id}/{query}")
        assert r.status_code == 400, (query, r.text)
        assert message in r.json()["detail"], (query, r.text)
        assert r.headers["cache-control"] == "no-store"
    assert not calls.exists()
    # An image the stack does not make is no object either.
    assert _get(app, f"/{published.asset_id}/thumbnail.gif?time=1").status_code == 404
    # The stand-in is reachable: a valid request does call it, and its failure is a 503 with Retry-After
    # (not a 5xx that would trip the caches' circuit breakers), never a half image.
    r = _get(app, f"/{published.asset_id}/thumbnail.jpg?time=1")
    assert (r.status_code, r.json()["error"], r.headers["retry-after"]) == (503, "render_failed", "1")
    assert len(calls.read_text().splitlines()) == 1


def _lookup_as(answer: tuple[str, str | None] | None) -> Lookup:
    return lambda asset_id: answer


@pytest.mark.parametrize(
    ("answer", "status", "code"),
    [
        (None, 404, "not_found"),
        (("deleted", None), 404, "not_found"),
        (("processing", "x/a1/master.m3u8"), 409, "asset_not_ready"),
        (("failed", None), 409, "asset_not_ready"),
    ],
)
def test_assets_not_ready_or_unknown(
    published: Published, answer: tuple[str, str | None] | None, status: int, code: str
) -> None:
    app = create_origin(
        published.origin_settings(),
        store=FilesystemObjectStore(published.root / "objects"),
        image_lookup=_lookup_as(answer),
    )
    r = _get(app, f"/{published.asset_id}/thumbnail.jpg?time=1")
    assert (r.status_code, r.json()["error"]) == (status, code)


def test_a_full_origin_answers_503_with_retry_after(published: Published) -> None:
    settings = published.origin_settings(images=ImageSettings(max_concurrent=1, retry_after=3))
    app = create_origin(settings, store=FilesystemObjectStore(published.root / "objects"))
    app.state.image_gate.enter()  # another image in the making
    r = _get(app, f"/{published.asset_id}/thumbnail.jpg?time=1")
    assert (r.status_code, r.headers["retry-after"], r.json()["error"]) == (503, "3", "images_busy")
    app.state.image_gate.leave()
    assert _get(app, f"/{published.asset_id}/thumbnail.jpg?time=1").status_code == 200


def test_signed_assets_need_their_token_at_the_edge_even_when_cached(published: Published, tmp_path: Path) -> None:
    lookup = catalog_lookup(published.origin_settings().catalog)
    origin = create_origin(
        published.origin_settings(access="catalog"),
        store=FilesystemObjectStore(published.root / "objects"),
        image_lookup=lookup,
    )
    _make_private(published)
    try:
        _signed_at_the_edge(published, origin, tmp_path)
    finally:
        _make_private(published, public=True)
        lookup.dispose()


def _signed_at_the_edge(published: Published, origin: object, tmp_path: Path) -> None:
    edge = create_edge(
        edge_settings(tmp_path, "edge", "edge", "http://origin", signing_secret=SECRET),
        transport=httpx.ASGITransport(app=origin),
    )
    token: Callable[[str], str] = lambda asset: sign_token(SECRET.encode(), asset, int(time.time()) + 300)  # noqa: E731
    path = f"/{published.asset_id}/thumbnail.jpg?time=2&width=160"

    async def requests() -> list[httpx.Response]:
        # One event loop for all of them, as in a running edge: the fill stores the image in the
        # background after answering, which a loop torn down after each request would cancel (the
        # second request then finds the stored entry, or the finished fill: a hit either way).
        transport = httpx.ASGITransport(app=edge)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://o") as client:
            return [
                await client.get(path + "&token=" + token(published.asset_id)),
                await client.get(path + "&token=" + token(published.asset_id)),
                await client.get(path),
                await client.get(path + "&token=" + token("another-asset")),
            ]

    first, again, missing, other = anyio.run(requests)
    assert first.status_code == 200, first.text
    # Cached now (the token is no part of the key): still refused without the token or with another's.
    assert again.headers["cache-status"].endswith("edge; hit"), again.headers["cache-status"]
    assert missing.json()["error"] == "token_missing"
    assert other.json()["error"] == "token_invalid"


def _make_private(published: Published, public: bool = False) -> None:
    from catalog.models import Asset
    from catalog.session import Catalog

    catalog = Catalog(published.origin_settings().catalog, apply_migrations=False)
    with catalog.session() as session:
        asset = session.get(Asset, published.asset_id)
        assert asset is not None
        asset.public = public
    catalog.dispose()


def test_head_and_revalidation(published: Published) -> None:
    app = create_origin(published.origin_settings(), store=FilesystemObjectStore(published.root / "objects"))
    path = f"/{published.asset_id}/thumbnail.webp?time=4&width=160"
    full = _get(app, path)
    assert full.status_code == 200 and full.headers["etag"].startswith('"')  # strong

    async def head() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://o") as client:
            return await client.head(path)

    headed = anyio.run(head)
    assert (headed.status_code, headed.content) == (200, b"")
    assert headed.headers["content-length"] == str(len(full.content)) and headed.headers["etag"] == full.headers["etag"]
    again = _get(app, path, headers={"if-none-match": full.headers["etag"]})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", full.headers["etag"])
