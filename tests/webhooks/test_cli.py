"""`vodstack webhooks add|list|deliveries|remove` against a real ingest server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from jobs.celery_app import make_celery
from tests.ingest.conftest import TOKEN, make_settings
from tests.ingest.harness import ServerThread
from vodstack.cli import main

PUBLIC_URL = "http://93.184.216.34/hooks"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[list[str]]:
    from ingest.app import create_app

    settings = make_settings(tmp_path, "filesystem")
    with ServerThread(create_app(settings, celery_app=make_celery(settings.broker))) as server:
        yield ["--data-dir", str(tmp_path / "cli"), "webhooks", "--api", server.url, "--token", TOKEN]


def test_add_list_deliveries_remove(api: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*api, "add", PUBLIC_URL, "--events", "asset.ready,asset.failed"]) == 0
    added = capsys.readouterr().out.splitlines()
    endpoint_id = added[0].split()[0]
    assert added[0].endswith(f"{PUBLIC_URL}  asset.ready,asset.failed")
    secret = added[1].rsplit(" ", 1)[1]
    Webhook(secret)  # a Standard Webhooks secret
    assert main([*api, "list"]) == 0
    listed = capsys.readouterr().out
    assert endpoint_id in listed and secret not in listed
    assert main([*api, "deliveries", endpoint_id]) == 0
    assert capsys.readouterr().out == ""
    assert main([*api, "remove", endpoint_id]) == 0
    assert main([*api, "deliveries", endpoint_id]) == 1
    assert "404" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "http://127.0.0.1/hook"], "which is loopback"),
        (["add", PUBLIC_URL, "--events", "asset.exploded"], "unknown event types"),
    ],
)
def test_refusals_are_readable(
    api: list[str], capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main([*api, *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vodstack webhooks: 400") and message in err


def test_unreachable_api_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--data-dir", str(tmp_path), "webhooks", "--api", "http://127.0.0.1:9", "--token", "k", "list"]
    assert main(argv) == 1
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err
