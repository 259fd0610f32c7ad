"""PUT/DELETE /assets/{id}/poster against a real ingest server (uvicorn on loopback), with the real
sandboxed child: metadata stripped from every variant (checked with Pillow, with ExifRead and in the
raw bytes), sizes and formats as announced, versioned URLs that change on replacement, retired
versions deleted after the grace period, refusals with their status, other owners answered 404, and
the published poster served through origin and edge with immutable caching."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import struct
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import exifread
import httpx
import pytest
from PIL import Image

from catalog.keys import create_key
from catalog.models import Asset, AssetState
from catalog.session import Catalog
from cdn_edge.app import create_app as create_edge
from ingest.posters import sweep_retired
from media.settings import PosterSettings
from origin.app import create_app as create_origin
from origin.settings import OriginSettings
from storage.settings import StorageSettings
from tests.cdn_edge.edge_stack import Instrumented, edge_settings
from tests.ingest.conftest import TOKEN, make_settings
from tests.ingest.harness import ServerThread
from tests.ingest.posters_media import BLUE, COMMENT, MAKE, RED, XMP, bomb, photo, plain
from tests.transcoder.services import postgres_catalog  # noqa: F401 - fixture

BASE = "http://127.0.0.1:8703"  # the default playback_base_url
MAX_BYTES = 2 * 2**20
MARKERS = (MAKE.encode(), XMP, b"vodstack-xmp-marker", COMMENT)


@pytest.fixture
def backend() -> str:
    return "filesystem"


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    backend, endpoint = "filesystem", None
    if request.node.get_closest_marker("s3"):
        backend, endpoint = "s3", request.getfixturevalue("moto_endpoint")
    settings = make_settings(tmp_path, backend, endpoint, poster=PosterSettings(max_bytes=MAX_BYTES))
    if request.node.get_closest_marker("postgres"):  # the row lock is PostgreSQL's
        settings = settings.model_copy(update={"catalog": request.getfixturevalue("postgres_catalog")})
    return settings


class Api:
    """The server, its catalog, and one key per caller: admin, alice (upload+read), bob (upload+read),
    alice's read-only key."""

    def __init__(self, server: ServerThread, settings: Any) -> None:
        self.url, self.settings = server.url, settings
        self.ingest = server.server.config.app.state.ingest
        self.catalog = Catalog(settings.catalog, apply_migrations=False)
        self.keys = {"admin": TOKEN}
        for name, owner, scopes in (("alice", "alice", {"upload", "read"}), ("bob", "bob", {"upload", "read"})):
            self.keys[name] = create_key(self.catalog, name, frozenset(scopes), owner)[1]
        self.keys["alice-read"] = create_key(self.catalog, "alice-read", frozenset({"read"}), "alice")[1]

    def call(self, who: str, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}", **kw.pop("headers", {})}
        return httpx.request(method, self.url + path, headers=headers, timeout=60, **kw)

    def put(self, who: str, asset_id: str, data: Any, content_type: str = "image/jpeg") -> httpx.Response:
        return self.call(who, "PUT", f"/assets/{asset_id}/poster", content=data, headers={"content-type": content_type})

    def asset(self, owner: str = "alice", *, ready: bool = False) -> str:
        with self.catalog.session() as session:
            asset = Asset(owner=owner, title="clip")
            if ready:
                asset.state, asset.master_key = AssetState.READY, None
            session.add(asset)
            session.flush()
            asset_id = asset.id
            if ready:
                asset.master_key = f"{asset_id}/a1/master.m3u8"
        return asset_id

    def objects(self, asset_id: str) -> set[str]:
        return {i.key for i in self.ingest.objects.list(self.settings.storage.media_bucket, f"{asset_id}/posters/")}

    def read(self, url: str) -> bytes:
        assert url.startswith(BASE + "/")
        return bytes(self.ingest.objects.get_bytes(self.settings.storage.media_bucket, url[len(BASE) + 1 :]))


@pytest.fixture
def api(server: ServerThread, settings: Any) -> Any:
    client = Api(server, settings)
    yield client
    client.catalog.dispose()


def _riff_chunks(data: bytes) -> list[bytes]:
    """The chunk ids of a WebP (RIFF) file."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    ids, at = [], 12
    while at + 8 <= len(data):
        fourcc, size = data[at : at + 4], struct.unpack("<I", data[at + 4 : at + 8])[0]
        ids.append(fourcc)
        at += 8 + size + (size & 1)
    return ids


def _jpeg_markers(data: bytes) -> list[int]:
    """The segment markers of a JPEG up to its first scan."""
    assert data[:2] == b"\xff\xd8"
    markers, at = [], 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker, length = data[at + 1], struct.unpack(">H", data[at + 2 : at + 4])[0]
        markers.append(marker)
        if marker == 0xDA:
            break
        at += 2 + length
    return markers


def _assert_clean(data: bytes, fmt: str) -> Image.Image:
    for marker in MARKERS:
        assert marker not in data, (fmt, marker)
    image = Image.open(io.BytesIO(data))
    image.load()
    assert dict(image.getexif()) == {}, fmt
    assert not {"exif", "xmp", "icc_profile", "comment", "XML:com.adobe.xmp"} & set(image.info), (fmt, image.info)
    if fmt == "jpeg":
        assert exifread.process_file(io.BytesIO(data), details=True) == {}
        # APP1 (EXIF, XMP), APP2 (ICC), COM: none; APP0 (JFIF) is all there is besides the picture.
        assert not {0xE1, 0xE2, 0xFE} & set(_jpeg_markers(data)), _jpeg_markers(data)
    if fmt == "webp":
        assert not {b"EXIF", b"XMP ", b"ICCP"} & set(_riff_chunks(data)), _riff_chunks(data)
    return image


def _near(pixel: Any, color: tuple[int, int, int]) -> bool:
    return all(abs(int(a) - b) <= 40 for a, b in zip(pixel[:3], color, strict=True))


def test_gps_and_all_metadata_stripped_in_every_format_and_size(api: Api) -> None:
    source = photo()  # 1600x900 stored sideways: 900x1600 upright; EXIF GPS, XMP, ICC, a comment
    assert b"vodstack-xmp-marker" in source and MAKE.encode() in source
    assert exifread.process_file(io.BytesIO(source), details=False)["GPS GPSLatitude"]  # the reader sees GPS
    asset_id = api.asset()
    answer = api.put("alice", asset_id, source)
    assert answer.status_code == 200, answer.text
    posters = answer.json()["playback"]["posters"]
    # Widths 320 and 640, then the picture's own 900 in place of 1280: never upscaled.
    expected = {(f, w, round(1600 * w / 900)) for f in ("avif", "webp", "jpeg") for w in (320, 640, 900)}
    assert {(p["format"], p["width"], p["height"]) for p in posters} == expected
    (version,) = {p["url"].split("/")[-2] for p in posters}
    extension = {"avif": "avif", "webp": "webp", "jpeg": "jpg"}
    for poster in posters:
        assert poster["url"] == f"{BASE}/{asset_id}/posters/{version}/{poster['width']}.{extension[poster['format']]}"
    # The one poster URL of the asset API is the creator's JPEG 640 wide.
    assert answer.json()["playback"]["poster"] == f"{BASE}/{asset_id}/posters/{version}/640.jpg"
    for poster in posters:
        data = api.read(poster["url"])
        image = _assert_clean(data, poster["format"])
        assert image.format == {"avif": "AVIF", "webp": "WEBP", "jpeg": "JPEG"}[poster["format"]]
        assert image.size == (poster["width"], poster["height"])
        rgb = image.convert("RGB")
        # EXIF orientation applied: the red half is on top, the blue one below.
        assert _near(rgb.getpixel((image.width // 2, image.height // 4)), RED)
        assert _near(rgb.getpixel((image.width // 2, 3 * image.height // 4)), BLUE)
    assert len(api.objects(asset_id)) == 9
    assert api.call("alice", "GET", f"/assets/{asset_id}").json()["playback"]["posters"] == posters


@pytest.mark.parametrize("store", ["filesystem", pytest.param("s3", marks=pytest.mark.s3)])
def test_replacing_changes_the_urls_and_retires_the_old_version(api: Api, store: str) -> None:
    asset_id = api.asset()
    first = api.put("alice", asset_id, plain(1280, 720, "PNG", RED), "image/png").json()["playback"]
    first_keys = api.objects(asset_id)
    second = api.put("alice", asset_id, plain(1280, 720, "WEBP", BLUE), "image/webp").json()["playback"]
    urls = {p["url"] for p in second["posters"]}
    assert urls.isdisjoint(p["url"] for p in first["posters"]) and second["poster"] != first["poster"]
    old_version = first["poster"].split("/")[-2]
    shown = api.call("alice", "GET", f"/assets/{asset_id}").text
    assert old_version not in shown  # the asset API references the new version only
    assert {p["url"] for p in api.call("alice", "GET", f"/assets/{asset_id}").json()["playback"]["posters"]} == urls
    # The old objects stay through the grace period (pages read a moment before still point at them) ...
    assert first_keys < api.objects(asset_id)
    now = datetime.now(UTC)
    assert sweep_retired(api.ingest, now + timedelta(hours=23)) == 0
    assert first_keys < api.objects(asset_id)
    # ... and are deleted after it; the current version is left alone.
    assert sweep_retired(api.ingest, now + timedelta(hours=25)) == 1
    assert api.objects(asset_id) == {u[len(BASE) + 1 :] for u in urls}
    assert _near(Image.open(io.BytesIO(api.read(second["poster"]))).convert("RGB").getpixel((5, 5)), BLUE)
    assert sweep_retired(api.ingest, now + timedelta(days=30)) == 0


def test_a_retired_version_uploaded_again_is_current_and_kept(api: Api) -> None:
    asset_id = api.asset()
    red, blue = plain(640, 360, "PNG", RED), plain(640, 360, "PNG", BLUE)
    first = api.put("alice", asset_id, red, "image/png").json()["playback"]["poster"]
    api.put("alice", asset_id, blue, "image/png")
    again = api.put("alice", asset_id, red, "image/png").json()["playback"]["poster"]
    assert again == first  # same bytes, same version, same URL
    assert sweep_retired(api.ingest, datetime.now(UTC) + timedelta(days=2)) == 1  # the blue one only
    assert _near(Image.open(io.BytesIO(api.read(first))).convert("RGB").getpixel((5, 5)), RED)
    assert {k.split("/")[2] for k in api.objects(asset_id)} == {first.split("/")[-2]}


@pytest.mark.postgres
def test_concurrent_replacements_leave_one_current_and_no_orphan(api: Api) -> None:
    asset_id = api.asset()
    images = [plain(640, 360, "PNG", (10 * n, 50, 90)) for n in range(4)]
    with concurrent.futures.ThreadPoolExecutor(len(images)) as pool:
        answers = list(pool.map(lambda image: api.put("alice", asset_id, image, "image/png"), images))
    assert [a.status_code for a in answers] == [200] * len(images)
    current = api.call("alice", "GET", f"/assets/{asset_id}").json()["playback"]["posters"]
    versions = {p["url"].split("/")[-2] for a in answers for p in a.json()["playback"]["posters"]}
    (kept,) = {p["url"].split("/")[-2] for p in current}
    assert len(versions) == len(images) and kept in versions
    # Every version but the current one was retired (none lost track of), so all go after the grace.
    assert sweep_retired(api.ingest, datetime.now(UTC) + timedelta(days=2)) == len(images) - 1
    assert {k.split("/")[2] for k in api.objects(asset_id)} == {kept}


def test_delete_returns_to_the_generated_poster(api: Api) -> None:
    asset_id = api.asset(ready=True)
    generated = f"{BASE}/{asset_id}/a1/poster.jpg"
    assert api.call("alice", "GET", f"/assets/{asset_id}").json()["playback"]["poster"] == generated
    mine = api.put("alice", asset_id, plain(800, 450, "JPEG")).json()["playback"]["poster"]
    assert mine.startswith(f"{BASE}/{asset_id}/posters/") and mine.endswith("/640.jpg")
    assert api.call("alice", "DELETE", f"/assets/{asset_id}/poster").status_code == 204
    playback = api.call("alice", "GET", f"/assets/{asset_id}").json()["playback"]
    assert (playback["poster"], playback["posters"]) == (generated, [])
    assert api.call("alice", "DELETE", f"/assets/{asset_id}/poster").status_code == 204  # idempotent
    assert sweep_retired(api.ingest, datetime.now(UTC) + timedelta(days=2)) == 1
    assert api.objects(asset_id) == set()


def test_other_owners_and_scopes(api: Api) -> None:
    asset_id = api.asset("alice")
    image = plain(640, 360, "JPEG")
    for method in ("PUT", "DELETE"):
        refused = api.call("bob", method, f"/assets/{asset_id}/poster", content=image,
                           headers={"content-type": "image/jpeg"})  # fmt: skip
        assert refused.status_code == 404 and refused.json()["error"] == "not_found"
        assert api.call("bob", method, "/assets/nonexistent/poster", content=image,
                        headers={"content-type": "image/jpeg"}).status_code == 404  # fmt: skip
    assert api.put("alice-read", asset_id, image).status_code == 403
    assert httpx.put(f"{api.url}/assets/{asset_id}/poster", content=image).status_code == 401
    assert api.objects(asset_id) == set()
    assert api.put("admin", asset_id, image).status_code == 200  # admins act on every owner's assets
    assert api.call("bob", "GET", f"/assets/{asset_id}").status_code == 404


def _truncated() -> bytes:
    whole = plain(1280, 720, "JPEG")
    return whole[: len(whole) // 2]


REFUSALS = [
    ("text/plain", lambda: plain(64, 64, "PNG"), 415, "unsupported_media_type", "not 'text/plain'"),
    ("", lambda: plain(64, 64, "PNG"), 415, "unsupported_media_type", "not 'none'"),
    ("image/png", lambda: plain(64, 64, "JPEG"), 415, "wrong_type", "JPEG image, not image/png"),
    (
        "image/jpeg",
        lambda: b"\xff\xd8\xff\xe0 this is not a picture at all" * 20,
        415,
        "not_image",
        "not a JPEG image",
    ),
    ("image/jpeg", _truncated, 422, "corrupt", "damaged or truncated"),
    ("image/jpeg", lambda: b"", 400, "empty", "body is empty"),
    ("image/png", lambda: b"\x89PNG" + bytes(MAX_BYTES), 413, "too_large", "at most"),
    # Chunked, no Content-Length: refused once the bytes read pass the limit.
    ("image/png", lambda: iter([b"\x89PNG" + bytes(MAX_BYTES // 2)] * 3), 413, "too_large", "the most a poster"),
    ("image/png", bomb, 413, "too_many_pixels", "too many pixels"),
    ("image/png", lambda: plain(3000, 100, "PNG"), 422, "aspect", "differ at most"),
]


def test_refusals(api: Api) -> None:
    # One asset with a poster for every case (each PUT runs the child: a fresh one per case is slow).
    asset_id = api.asset()
    kept = api.put("alice", asset_id, plain(640, 360, "PNG"), "image/png").json()["playback"]
    for content_type, body, status, error, words in REFUSALS:
        answer = api.put("alice", asset_id, body(), content_type)
        assert answer.status_code == status, (error, answer.text)
        assert answer.json()["error"] == error and words in answer.json()["message"], answer.json()
        assert api.call("alice", "GET", f"/assets/{asset_id}").json()["playback"] == kept  # nothing changed
        assert {k.split("/")[2] for k in api.objects(asset_id)} == {kept["poster"].split("/")[-2]}
        assert httpx.get(f"{api.url}/healthz").status_code == 200


def test_heic_is_accepted(api: Api) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    Image.new("RGB", (640, 480), RED).save(out, format="HEIF")
    answer = api.put("alice", api.asset(), out.getvalue(), "image/heic")
    assert answer.status_code == 200, answer.text
    assert {(p["width"], p["height"]) for p in answer.json()["playback"]["posters"]} == {(320, 240), (640, 480)}


def test_served_through_origin_and_edge_immutable(api: Api, tmp_path: Path) -> None:
    asset_id = api.asset()
    poster = api.put("alice", asset_id, plain(640, 360, "PNG"), "image/png").json()["playback"]["posters"]
    webp = next(p for p in poster if p["format"] == "webp")
    path = webp["url"][len(BASE) :]
    origin = Instrumented(create_origin(OriginSettings(storage=StorageSettings(root=api.settings.storage.root))))
    edge = create_edge(edge_settings(tmp_path, "edge", "edge", "http://origin"), transport=httpx.ASGITransport(origin))

    async def fetch_twice() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url="http://edge") as client:
            return [await client.get(path), await client.get(path)]

    first, second = asyncio.run(fetch_twice())
    for response in (first, second):
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/webp"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.content == api.read(webp["url"])
    assert "hit" in second.headers["cache-status"] and origin.counts[path.lstrip("/")] == 1


def test_children_beyond_the_concurrency_wait_their_turn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest import posters
    from ingest.app import create_app
    from jobs.celery_app import make_celery
    from media.errors import InvalidMedia

    settings = make_settings(tmp_path, "filesystem", poster=PosterSettings(concurrency=1))
    inside: list[str] = []
    release = threading.Event()

    def held_render(source: Path, content_type: str, out: Path, poster: PosterSettings) -> Any:
        inside.append(content_type)  # stands in for the child: holds its slot until the test lets go
        release.wait(60)
        raise InvalidMedia("the image is damaged or truncated (held)", reason="corrupt")

    monkeypatch.setattr(posters, "render_isolated", held_render)
    with ServerThread(create_app(settings, celery_app=make_celery(settings.broker))) as server:
        api = Api(server, settings)
        asset_id = api.asset()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            calls = [pool.submit(api.put, "alice", asset_id, plain(64, 64, "PNG"), "image/png") for _ in range(2)]
            deadline = time.monotonic() + 60
            state = server.server.config.app.state
            # Until the second request waits for the slot and the first one's child has started (taking the
            # slot comes before the child, so the waiting one can be seen first).
            while not (
                hasattr(state, "poster_render_slots")
                and state.poster_render_slots.statistics().tasks_waiting == 1
                and inside
            ):
                assert time.monotonic() < deadline and not any(c.done() for c in calls)
                time.sleep(0.02)
            assert len(inside) == 1  # the second request waits for the slot, its child not started
            release.set()
            assert [c.result().status_code for c in calls] == [422, 422]
        assert len(inside) == 2
        api.catalog.dispose()
