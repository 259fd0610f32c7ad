"""`vodstack assets list|show|delete|import|clip-url` against a real ingest server: through the API,
refusals as one line."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from catalog.models import Asset, AssetState
from catalog.session import Catalog
from jobs.celery_app import make_celery
from playback.signing import verify_token
from tests.ingest.conftest import TOKEN, make_settings
from tests.ingest.harness import ServerThread
from vodstack.assets_cli import Refused, clip_url
from vodstack.cli import main

SECRET = "s3cret"


@pytest.fixture
def catalog_and_api(tmp_path: Path) -> Iterator[tuple[Catalog, list[str]]]:
    from ingest.app import create_app

    settings = make_settings(tmp_path, "filesystem", probe_on_completion=False, signing_secret=SECRET)
    catalog = Catalog(settings.catalog)
    with ServerThread(create_app(settings, celery_app=make_celery(settings.broker))) as server:
        yield catalog, ["--data-dir", str(tmp_path / "cli"), "assets", "--api", server.url, "--token", TOKEN]
    catalog.dispose()


def test_list_show_clip_url_delete(catalog_and_api, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    catalog, api = catalog_and_api
    t0 = datetime(2026, 5, 1, tzinfo=UTC)
    with catalog.session() as s:
        for i in range(5):
            s.add(
                Asset(
                    id=f"a{i}",
                    owner="operator",
                    title=f"clip {i}",
                    state=AssetState.READY,
                    created_at=t0 + timedelta(hours=i),
                    master_key=f"a{i}/a1/master.m3u8",
                    dash_key=f"a{i}/a1/manifest.mpd",
                )
            )
        private = Asset(
            id="priv", owner="operator", title="p", state=AssetState.READY, master_key="priv/a1/master.m3u8"
        )
        private.public = False
        s.add(private)

    assert main([*api, "list", "--limit", "2", "--all", "--state", "ready"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [r.split()[0] for r in rows] == ["priv", "a4", "a3", "a2", "a1", "a0"]  # three pages followed
    assert main([*api, "list", "--limit", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2  # the first page only
    assert main([*api, "list", "--search", "CLIP 3"]) == 0  # the server's title search, any case
    assert [r.split()[0] for r in capsys.readouterr().out.splitlines()] == ["a3"]

    assert main([*api, "show", "a2"]) == 0
    assert '"title": "clip 2"' in capsys.readouterr().out

    assert main([*api, "clip-url", "a2", "--start", "12", "--end", "47.5"]) == 0
    assert capsys.readouterr().out.strip() == "http://127.0.0.1:8703/a2/a1/master.m3u8?start=12&end=47.5"
    assert main([*api, "clip-url", "a2", "--start", "0", "--end", "4", "--dash"]) == 0
    assert capsys.readouterr().out.strip() == "http://127.0.0.1:8703/a2/a1/manifest.mpd?start=0&end=4"
    assert main([*api, "clip-url", "priv", "--start", "1", "--end", "2"]) == 0
    url = httpx.URL(capsys.readouterr().out.strip())
    assert (url.params["start"], url.params["end"]) == ("1", "2")
    verify_token(SECRET.encode(), url.params["token"], "priv", now=time.time())  # the private token is kept

    assert main([*api, "clip-url", "a2", "--start", "5", "--end", "5"]) == 1
    assert capsys.readouterr().err == "vodstack assets: the range must satisfy 0 <= start < end (got start=5, end=5)\n"
    assert main([*api, "delete", "a2"]) == 0
    assert capsys.readouterr().out == "deleted a2\n"
    assert main([*api, "show", "a2"]) == 0  # deleted assets stay readable, as "deleted"
    assert '"state": "deleted"' in capsys.readouterr().out


def test_refusals_are_one_line(catalog_and_api, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    _, api = catalog_and_api
    assert main([*api, "show", "nope"]) == 1
    assert capsys.readouterr().err == "vodstack assets: 404 no asset 'nope'\n"
    assert main([*api, "import", "http://127.0.0.1:9/v.mp4"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vodstack assets: 400 the source URL is refused: ") and err.count("\n") == 1
    assert main([*api, "list", "--limit", "0"]) == 1
    assert capsys.readouterr().err.startswith("vodstack assets: 422 limit: ")
    assert main([*api[:-1], "wrong-token", "list"]) == 1
    assert capsys.readouterr().err == "vodstack assets: 401 the bearer token is not valid\n"
    assert main([*api[:3], "--api", "http://127.0.0.1:9", "--token", TOKEN, "list"]) == 1
    assert capsys.readouterr().err.startswith("vodstack assets: cannot reach http://127.0.0.1:9: ")


def test_clip_url_is_pure() -> None:
    assert clip_url("https://e.example/x/master.m3u8?token=t", 1.5, 3) == (
        "https://e.example/x/master.m3u8?token=t&start=1.5&end=3"
    )
    with pytest.raises(Refused):
        clip_url("https://e.example/x/master.m3u8", -1, 3)
