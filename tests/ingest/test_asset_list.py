"""GET /assets (cursor pages, filters), PATCH /assets/{id} and owner isolation, on a real uvicorn."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from catalog.keys import create_key
from catalog.models import Asset, AssetState
from catalog.session import Catalog
from ingest.app import create_app
from ingest.settings import IngestSettings
from jobs.celery_app import make_celery
from tests.ingest.conftest import AUTH, make_settings
from tests.ingest.harness import ServerThread
from tests.transcoder.services import postgres_catalog  # noqa: F401 - fixture

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> IngestSettings:
    settings = make_settings(tmp_path, "filesystem", probe_on_completion=False)
    if request.param == "postgres":  # timestamps compare with their zone there, without it on SQLite
        return settings.model_copy(update={"catalog": request.getfixturevalue("postgres_catalog")})
    return settings


@pytest.fixture
def catalog(settings: IngestSettings) -> Iterator[Catalog]:
    catalog = Catalog(settings.catalog)
    yield catalog
    catalog.dispose()


@pytest.fixture
def client(settings: IngestSettings, catalog: Catalog) -> Iterator[httpx.Client]:
    with ServerThread(create_app(settings, celery_app=make_celery(settings.broker))) as server:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            yield http


@pytest.fixture
def keys(catalog: Catalog) -> dict[str, dict[str, str]]:
    made = {
        "alice": create_key(catalog, "alice-key", frozenset({"upload", "read"}), "alice")[1],
        "alice-read": create_key(catalog, "alice-read", frozenset({"read"}), "alice")[1],
        "bob": create_key(catalog, "bob-key", frozenset({"upload", "read"}), "bob")[1],
    }
    return {name: {"Authorization": f"Bearer {key}"} for name, key in made.items()} | {"admin": AUTH}


def add(catalog: Catalog, owner: str, at: datetime, title: str, state: str = AssetState.READY) -> str:
    with catalog.session() as s:
        asset = Asset(owner=owner, created_at=at, title=title, state=state)
        s.add(asset)
        s.flush()
        return asset.id


def walk(client: httpx.Client, url: str, headers: dict[str, str], between_pages: list[object]) -> list[list[str]]:
    """Every page's titles, following Link rel="next"; between_pages[i]() runs after page i."""
    pages: list[list[str]] = []
    next_url: str | None = url
    while next_url is not None:
        r = client.get(next_url, headers=headers)
        assert r.status_code == 200, r.text
        pages.append([a["title"] for a in r.json()])
        if len(pages) <= len(between_pages):
            between_pages[len(pages) - 1]()  # type: ignore[operator]
        next_url = r.links.get("next", {}).get("url")
    return pages


def test_pages_stay_stable_under_concurrent_inserts(client: httpx.Client, catalog: Catalog, keys) -> None:  # type: ignore[no-untyped-def]
    # Five share one timestamp (across pages 1 and 2): the id breaks the tie, none skipped or repeated.
    made = []
    for i in range(8):
        at = T0 + timedelta(minutes=min(i, 3))
        made.append((at, add(catalog, "alice", at, f"a{i}"), f"a{i}"))
    add(catalog, "bob", T0 + timedelta(minutes=3, seconds=30), "bob's")
    newer = iter(range(100))

    def insert_newer() -> None:  # another client uploading while this one pages
        for _ in range(2):
            add(catalog, "alice", datetime.now(UTC), f"new{next(newer)}")

    pages = walk(client, "/assets?limit=3", keys["alice"], [insert_newer, insert_newer])
    assert len(pages) == 3 and [len(p) for p in pages] == [3, 3, 2]
    seen = [title for page in pages for title in page]
    assert len(seen) == len(set(seen)) == 8
    # Newest first, ties by id; the new ones sort before page 1, bob's never shows.
    assert seen == [title for _, _, title in sorted(made, reverse=True)]
    # The next listing from the start has the inserts first, newest first.
    first = client.get("/assets?limit=4", headers=keys["alice"]).json()
    assert [a["title"] for a in first] == ["new3", "new2", "new1", "new0"]


def test_filters(client: httpx.Client, catalog: Catalog, keys) -> None:  # type: ignore[no-untyped-def]
    add(catalog, "alice", T0, "old-ready")
    add(catalog, "alice", T0 + timedelta(days=1), "mid-failed", AssetState.FAILED)
    add(catalog, "alice", T0 + timedelta(days=2), "new-ready")
    add(catalog, "alice", T0 + timedelta(days=3), "gone", AssetState.DELETED)
    add(catalog, "bob", T0 + timedelta(days=1, hours=-1), "bob-ready")

    def titles(query: str, who: str = "alice") -> list[str]:
        r = client.get(f"/assets?{query}", headers=keys[who])
        assert r.status_code == 200, r.text
        return [a["title"] for a in r.json()]

    assert titles("") == ["new-ready", "mid-failed", "old-ready"]  # deleted ones are never listed
    assert titles("state=ready") == ["new-ready", "old-ready"]
    assert titles("state=failed") == ["mid-failed"]
    assert titles("created_after=2026-03-01T12:00:00Z") == ["new-ready", "mid-failed"]  # exclusive
    assert titles("created_before=2026-03-02T13:00:00%2B01:00") == ["old-ready"]  # 12:00 UTC, exclusive
    assert titles("created_after=2026-03-01T13:00:00Z&created_before=2026-03-03T12:00:00Z") == ["mid-failed"]
    assert titles("owner=bob", "admin") == ["bob-ready"]
    assert titles("", "admin") == ["new-ready", "mid-failed", "bob-ready", "old-ready"]
    assert titles("owner=alice") == ["new-ready", "mid-failed", "old-ready"]  # one's own: allowed

    refused = client.get("/assets?owner=bob", headers=keys["alice"])
    assert refused.status_code == 403 and "admin" in refused.json()["message"]
    bad_state = client.get("/assets?state=deleted", headers=keys["alice"])
    assert bad_state.status_code == 400 and "ready" in bad_state.json()["message"]
    assert client.get("/assets?created_after=yesterday", headers=keys["alice"]).status_code == 422
    for cursor in ("garbage", "eyJ2IjogMn0", "x" * 600):
        r = client.get(f"/assets?cursor={cursor}", headers=keys["alice"])
        assert r.status_code in (400, 422), (cursor, r.text)
        assert r.status_code == 422 or r.json()["error"] == "invalid_cursor"


def test_another_owners_asset_is_404_everywhere(client: httpx.Client, catalog: Catalog, keys) -> None:  # type: ignore[no-untyped-def]
    bobs = add(catalog, "bob", T0, "bob's")
    for method, body in (("GET", None), ("PATCH", {"title": "mine now"}), ("DELETE", None)):
        r = client.request(method, f"/assets/{bobs}", json=body, headers=keys["alice"])
        assert r.status_code == 404, (method, r.text)
        assert r.json() == {"error": "not_found", "message": f"no asset {bobs!r}"}
    assert client.get(f"/assets/{bobs}", headers=keys["bob"]).json()["title"] == "bob's"  # untouched


def test_patch_edits_and_validates(client: httpx.Client, catalog: Catalog, keys) -> None:  # type: ignore[no-untyped-def]
    asset_id = add(catalog, "alice", T0, "before")
    url = f"/assets/{asset_id}"
    r = client.patch(
        url,
        json={"title": " Keynote ", "description": "line 1\nline 2", "tags": ["a", "b", "a"], "visibility": "private"},
        headers=keys["alice"],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["title"], body["description"], body["tags"], body["visibility"]) == (
        "Keynote",
        "line 1\nline 2",
        ["a", "b"],
        "private",
    )
    # Stored in the catalog, not just echoed: a fresh GET says the same, and a field left out stays.
    assert client.patch(url, json={"description": None}, headers=keys["alice"]).status_code == 200
    again = client.get(url, headers=keys["alice-read"]).json()
    assert (again["title"], again["description"], again["tags"], again["visibility"]) == (
        "Keynote",
        None,
        ["a", "b"],
        "private",
    )
    with catalog.session() as s:
        stored = s.get(Asset, asset_id)
        assert stored is not None and stored.public is False and stored.tags == ["a", "b"]

    refused = [
        {},
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 201},
        {"title": "bell\x07"},
        {"description": "d" * 5001},
        {"tags": [f"t{i}" for i in range(21)]},
        {"tags": ["x" * 41]},
        {"tags": [""]},
        {"tags": "not-a-list"},
        {"visibility": "unlisted"},
        {"visibility": None},
        {"state": "ready"},
        {"owner": "bob"},
    ]
    for patch in refused:
        r = client.patch(url, json=patch, headers=keys["alice"])
        assert r.status_code == 422, (patch, r.status_code, r.text)
        assert r.json()["detail"], patch  # says which field and why
    assert client.patch(url, json={"title": "read-only key"}, headers=keys["alice-read"]).status_code == 403
    assert client.get(url, headers=keys["alice"]).json()["title"] == "Keynote"


def test_search_by_title_and_description(client: httpx.Client, catalog: Catalog, keys) -> None:  # type: ignore[no-untyped-def]
    add(catalog, "alice", T0, "Holiday in Rome")
    add(catalog, "alice", T0 + timedelta(days=1), "holiday_2026 100%")
    add(catalog, "alice", T0 + timedelta(days=2), "holidayX2026 100 percent", AssetState.FAILED)
    add(catalog, "alice", T0 + timedelta(days=3), "HOLIDAY gone", AssetState.DELETED)
    add(catalog, "bob", T0 + timedelta(days=1), "bob's holiday")
    with catalog.session() as s:
        s.add(Asset(owner="alice", created_at=T0 + timedelta(days=4), title="Untitled", description="a HOLIDAY clip"))
        s.add(Asset(owner="alice", created_at=T0 + timedelta(days=5), title=None, description=None))

    def titles(query: str, who: str = "alice") -> list[str]:
        r = client.get("/assets", params=query, headers=keys[who])
        assert r.status_code == 200, r.text
        return [a["title"] for a in r.json()]

    everyone = ["Untitled", "holidayX2026 100 percent", "holiday_2026 100%", "Holiday in Rome"]
    assert titles("q=holiday") == everyone  # any case, title or description; deleted and bob's never
    assert titles("q=hOLIDAY") == everyone
    assert titles("q=holiday_") == ["holiday_2026 100%"]  # _ is literal, not "any one character"
    assert titles("q=100%25") == ["holiday_2026 100%"]  # % is literal, not "anything"
    assert titles("q=%25") == ["holiday_2026 100%"]
    assert titles("q=_") == ["holiday_2026 100%"]
    assert titles("q=%5C") == []  # the escape character itself is literal too
    assert titles("q=rome&state=ready") == ["Holiday in Rome"]
    assert titles("q=holiday&state=failed") == ["holidayX2026 100 percent"]
    assert titles("q=holiday&created_before=2026-03-02T12:00:00Z") == ["Holiday in Rome"]
    assert titles("q=holiday&owner=bob", "admin") == ["bob's holiday"]
    assert titles("q=+rome+") == ["Holiday in Rome"]  # the box's spaces around a word are not searched
    assert len(titles("q=")) == 5  # a cleared box: every asset (one untitled)
    assert titles("q=nothing like it") == []

    # Pages: the next link keeps the search; no title repeated or skipped.
    assert walk(client, "/assets?q=holiday&limit=3", keys["alice"], []) == [everyone[:3], everyone[3:]]

    too_long = client.get("/assets", params={"q": "x" * 101}, headers=keys["alice"])
    assert too_long.status_code == 422 and "100" in too_long.text
    for control in ("\x00", "a\x01b", "tab\there"):
        refused = client.get("/assets", params={"q": control}, headers=keys["alice"])
        assert refused.status_code == 400 and "printable" in refused.json()["message"], control
