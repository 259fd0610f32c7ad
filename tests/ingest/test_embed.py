"""The keyless embed endpoint (GET /embeds/{id}): public assets to anyone; private ones only with a
valid playback token for that very asset; everything else the same 404."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from catalog.models import Asset, AssetState, Job, JobState
from catalog.session import Catalog
from ingest.embed import may_embed
from playback.signing import sign_token, verify_token
from tests.ingest.harness import Tus
from tests.ingest.test_assets import _publish


@pytest.fixture
def backend() -> str:
    return "filesystem"


def test_rule_for_keyless_callers() -> None:
    now = time.time()
    secret = b"s3cret"
    public = Asset(id="a" * 32, state=AssetState.READY, public=True)
    private = Asset(id="b" * 32, state=AssetState.READY, public=False)
    gone = Asset(id="c" * 32, state=AssetState.DELETED, public=True)
    assert may_embed(public, secret, None, now)
    assert not may_embed(None, secret, None, now) and not may_embed(gone, secret, None, now)
    assert not may_embed(private, secret, None, now)
    assert not may_embed(private, secret, "garbage", now)
    assert not may_embed(private, secret, sign_token(secret, "a" * 32, int(now) + 60), now)  # another asset's
    assert not may_embed(private, secret, sign_token(secret, "b" * 32, int(now) - 1), now)  # expired
    assert may_embed(private, secret, sign_token(secret, "b" * 32, int(now) + 60), now)
    assert may_embed(private, b"", None, now)  # no signing secret: nothing is signed anywhere


def test_embed_endpoint_without_a_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ingest.app import create_app
    from tests.ingest.conftest import make_settings
    from tests.ingest.harness import ServerThread

    settings = make_settings(tmp_path, "filesystem", signing_secret="s3cret")
    with ServerThread(create_app(settings)) as srv:
        tus = Tus(srv.url, "test-token")
        tus.new(5)
        tus.new(5)
        private_id, public_id = (a["id"] for a in tus.get("/assets").json())
        _publish(settings, private_id, public=False)
        _publish(settings, public_id, public=True)
        token = tus.get(f"/assets/{private_id}").json()["playback"]["hls"].partition("?token=")[2]
        tus.close()
        with httpx.Client(base_url=srv.url) as anonymous:
            shown = anonymous.get(f"/embeds/{public_id}")
            assert shown.status_code == 200, shown.text
            assert set(shown.json()) == {"id", "title", "state", "duration", "kind", "playback"}  # no owner, no source
            assert shown.json()["playback"]["hls"].endswith(f"{public_id}/master.m3u8")

            for query in ({}, {"token": "nope"}, {"token": token.replace(token[-4:], "AAAA")}):
                refused = anonymous.get(f"/embeds/{private_id}", params=query)
                assert refused.status_code == 404 and "expired" in refused.json()["message"], refused.text
            assert anonymous.get("/embeds/" + "x" * 5000).status_code == 404

            ok = anonymous.get(f"/embeds/{private_id}", params={"token": token})
            assert ok.status_code == 200, ok.text
            signed = ok.json()["playback"]["hls"].partition("?token=")[2]
            grant = verify_token(b"s3cret", signed, private_id, now=datetime.now(UTC).timestamp())
            assert grant.asset_id == private_id


def test_list_rows_carry_size_owner_and_the_uploads_own_progress(tus: Tus) -> None:
    path = tus.new(10, headers={"Upload-Metadata": "filename dGVuLm1wNA=="})
    assert tus.patch(path, 0, b"abcd").status_code == 204
    (row,) = tus.get("/assets").json()
    # The row's bar is the bytes received (what the uploader's own bar shows), not an empty 0.
    assert row["state"] == "uploading" and row["progress"] == 0.4 and row["size"] == 10, row
    assert row["owner"], row


def test_queued_rows_say_their_place_in_line(tus: Tus, settings) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        tus.new(5)
    newest, middle, oldest = (a["id"] for a in tus.get("/assets").json())
    catalog = Catalog(settings.catalog, apply_migrations=False)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with catalog.session() as s:
        for i, asset_id in enumerate((oldest, middle, newest)):
            s.get(Asset, asset_id).state = AssetState.QUEUED
            s.add(Job(asset_id=asset_id, state=JobState.QUEUED, created_at=base + timedelta(seconds=i)))
        # Neither a running job nor a split job's part stands in the line.
        earlier = base - timedelta(seconds=9)
        s.add(Job(asset_id=oldest, state=JobState.RUNNING, created_at=earlier))
        s.add(Job(asset_id=oldest, kind="transcode_part", state=JobState.QUEUED, created_at=earlier))
    with catalog.session() as s:
        s.get(Asset, newest).state = AssetState.PROCESSING
    catalog.dispose()
    rows = {a["id"]: a for a in tus.get("/assets").json()}
    assert [rows[i]["queue_position"] for i in (oldest, middle, newest)] == [1, 2, None]
