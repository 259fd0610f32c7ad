"""POST /assets with a source URL (real uvicorn) and the import task's pipeline function in-process: the
URL checked when given, the asset created "importing" with asset.created, the task queued on the light
queue; then the download, the staged original, its checks, the transcode job and the webhook events."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from catalog.keys import create_key
from catalog.models import Asset, Job
from catalog.session import Catalog
from importer.download import Download, DownloadLimits
from importer.pipeline import ImportContext, requeue_stale, run_import
from importer.settings import ImportSettings
from ingest.app import create_app
from ingest.settings import IngestSettings
from jobs.celery_app import IMPORT_TASK, make_celery
from storage.filesystem import FilesystemObjectStore
from tests.importer.fileserver import FileServer
from tests.ingest.conftest import make_settings
from tests.ingest.harness import ServerThread, queued_messages
from tests.media import make_clip
from webhooks.models import WebhookDelivery, WebhookEndpoint


def settings_for(tmp: Path, *, allow: bool) -> IngestSettings:
    imports = ImportSettings(allow_private_sources=allow, spool_dir=tmp / "imports", max_bytes=5 * 1024**2)
    return make_settings(tmp, "filesystem", probe_on_completion=False, imports=imports)


@pytest.fixture
def allowed(tmp_path: Path) -> IngestSettings:
    return settings_for(tmp_path, allow=True)


@pytest.fixture
def keys(allowed: IngestSettings) -> Iterator[dict[str, dict[str, str]]]:
    catalog = Catalog(allowed.catalog)
    made = {
        "alice": create_key(catalog, "alice-key", frozenset({"upload", "read"}), "alice")[1],
        "alice-read": create_key(catalog, "alice-read", frozenset({"read"}), "alice")[1],
    }
    with catalog.session() as s:
        s.add(WebhookEndpoint(owner="alice", url="http://93.184.216.34/h", secret="whsec_x", event_types=["*"]))
    catalog.dispose()
    yield {name: {"Authorization": f"Bearer {key}"} for name, key in made.items()}


def events_of(catalog: Catalog) -> list[tuple[str, dict[str, object]]]:
    with catalog.session() as s:
        rows = s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)).all()
        return [(r.event_type, json.loads(r.payload)["data"]) for r in rows]


def subscribe_all(catalog: Catalog) -> None:
    from webhooks.events import EVENT_TYPES

    with catalog.session() as s:
        for endpoint in s.scalars(select(WebhookEndpoint)).all():
            endpoint.event_types = list(EVENT_TYPES)


def context(settings: IngestSettings, catalog: Catalog, queued: list[str]) -> ImportContext:
    store = FilesystemObjectStore(settings.storage.root)
    staging = settings.storage.staging_bucket
    return ImportContext(catalog, store, staging, settings.imports, settings.probe, queued.append)


def test_loopback_source_is_refused_without_the_setting(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, allow=False)
    with FileServer(b"x") as files, ServerThread(create_app(settings, celery_app=make_celery(settings.broker))) as api:
        from tests.ingest.conftest import AUTH

        for url in (files.url(), "http://localhost:1/v.mp4", "http://[::1]/v.mp4", "http://10.0.0.1/v.mp4"):
            r = httpx.post(f"{api.url}/assets", json={"source_url": url}, headers=AUTH)
            assert r.status_code == 400, (url, r.text)
            assert r.json()["error"] == "source_refused" and "the source URL is refused" in r.json()["message"]
        for url in ("ftp://example.com/v.mp4", "file:///etc/passwd", "http://user:pw@example.com/v.mp4"):
            assert httpx.post(f"{api.url}/assets", json={"source_url": url}, headers=AUTH).status_code == 400, url
        assert files.requests == []
        assert queued_messages(settings.broker.folder) == []
        assert httpx.get(f"{api.url}/assets", headers=AUTH).json() == []  # nothing was created


@pytest.mark.ffmpeg
def test_import_queues_then_stages_checks_and_queues_the_transcode(
    tmp_path: Path, allowed: IngestSettings, keys: dict[str, dict[str, str]]
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=1, size="160x90")
    catalog = Catalog(allowed.catalog, apply_migrations=False)
    subscribe_all(catalog)
    with (
        FileServer(clip.read_bytes(), cut_after=[20_000]) as files,
        ServerThread(create_app(allowed, celery_app=make_celery(allowed.broker))) as api,
    ):
        post = lambda body, who="alice": httpx.post(f"{api.url}/assets", json=body, headers=keys[who])  # noqa: E731
        assert post({"source_url": files.url()}, "alice-read").status_code == 403
        for bad in ({}, {"source_url": ""}, {"source_url": files.url(), "owner": "bob"}, {"source_url": 5}):
            assert post(bad).status_code == 422, bad
        r = post({"source_url": files.url("/talks/My%20Talk.mp4")})
        assert r.status_code == 202, r.text
        made = r.json()
        assert (made["state"], made["title"], made["source_url"]) == (
            "importing",
            "My Talk.mp4",
            files.url("/talks/My%20Talk.mp4"),
        )
        [message] = queued_messages(allowed.broker.folder)
        routed = message["envelope"]["properties"]["delivery_info"]["routing_key"]
        assert (message["task"], message["args"], routed) == (IMPORT_TASK, [made["id"]], "light")

        # What the worker's task does (importer.tasks is a thin wrapper over this).
        queued: list[str] = []
        files.body = clip.read_bytes()
        ctx = context(allowed, catalog, queued)
        with catalog.session() as s:
            s.get(Asset, made["id"]).source_url = files.url()  # type: ignore[union-attr]
        assert run_import(ctx, made["id"]) == "queued"
        assert run_import(ctx, made["id"]) == "skipped"  # a redelivered task: one job, not two
        with catalog.session() as s:
            jobs = s.scalars(select(Job).where(Job.asset_id == made["id"])).all()
            assert [j.id for j in jobs] == queued and len(queued) == 1
        asset = httpx.get(f"{api.url}/assets/{made['id']}", headers=keys["alice"]).json()
        assert asset["state"] == "queued" and asset["width"] == 160 and asset["duration"] == pytest.approx(1.0, abs=0.1)
        staged = ctx.objects.get_bytes(allowed.storage.staging_bucket, f"originals/import-{made['id']}")
        assert staged == clip.read_bytes()  # exact, though the first connection dropped
        assert [r.get("range") is not None for r in files.requests] == [False, True]
        assert list((tmp_path / "imports").iterdir()) == []  # the partial download is gone

        # Not a video: failed with a reason a creator understands, and asset.failed.
        files.body = os.urandom(50_000)
        bad = post({"source_url": files.url("/junk.mp4")}).json()
        assert run_import(ctx, bad["id"]) == "failed"
        failed = httpx.get(f"{api.url}/assets/{bad['id']}", headers=keys["alice"]).json()
        assert failed["state"] == "failed" and "not a video" in failed["error"]

        # Over the size limit: failed with the limit in the reason.
        files.body = b"\0" * (6 * 1024**2)
        big = post({"source_url": files.url("/big.mp4")}).json()
        assert run_import(ctx, big["id"]) == "failed"
        too_big = httpx.get(f"{api.url}/assets/{big['id']}", headers=keys["alice"]).json()
        assert too_big["error"] == "the import failed: the source is 6.0 MiB, over the 5.0 MiB import limit"

    seen = [(kind, data["asset_id"]) for kind, data in events_of(catalog)]
    assert seen == [
        ("asset.created", made["id"]),
        ("upload.completed", made["id"]),
        ("asset.created", bad["id"]),
        ("upload.completed", bad["id"]),
        ("asset.failed", bad["id"]),
        ("asset.created", big["id"]),
        ("asset.failed", big["id"]),
    ]
    catalog.dispose()


def test_a_stale_import_is_queued_again_once_and_a_live_one_is_not(tmp_path: Path) -> None:
    """The worker died mid-download (the embedded broker gives its message to no one): the beat's sweep
    queues it again, once however many sweepers run; an import whose worker marks it is left alone."""
    settings = settings_for(tmp_path, allow=True)
    catalog = Catalog(settings.catalog)
    now = datetime.now(UTC)
    with catalog.session() as s:
        s.add(Asset(id="dead", state="importing", source_url="http://x/v.mp4", updated_at=now - timedelta(minutes=6)))
        s.add(Asset(id="alive", state="importing", source_url="http://x/v.mp4", updated_at=now - timedelta(minutes=1)))
        s.add(Asset(id="done", state="queued", source_url="http://x/v.mp4", updated_at=now - timedelta(hours=1)))
    queued: list[str] = []
    assert requeue_stale(catalog, queued.append, now=now, stale_seconds=300) == ["dead"]
    assert requeue_stale(catalog, queued.append, now=now, stale_seconds=300) == []  # claimed: not twice
    assert queued == ["dead"]
    later = now + timedelta(minutes=10)  # nobody marked either since
    assert sorted(requeue_stale(catalog, queued.append, now=later, stale_seconds=300)) == ["alive", "dead"]
    catalog.dispose()


def test_the_download_marks_the_import_while_it_runs(tmp_path: Path) -> None:
    now = [0.0]
    beats: list[float] = []

    def slow(request: httpx.Request) -> httpx.Response:
        def body():  # type: ignore[no-untyped-def]
            for _ in range(10):
                now[0] += 10  # each chunk "takes" 10 s on the injected clock
                yield b"x" * 1000

        return httpx.Response(200, content=body())

    Download(
        "http://media.example/v.mp4",
        tmp_path / "a.part",
        DownloadLimits(10**6, 3600, 5, 5, 3, 3),
        allow_private=False,
        resolver=lambda host, port: ["93.184.216.34"],
        transport=httpx.MockTransport(slow),
        clock=lambda: now[0],
        heartbeat=lambda: beats.append(now[0]),
        heartbeat_seconds=30,
    ).run()
    assert beats == [0.0, 30.0, 60.0, 90.0]  # at the start, then every 30 s of the download


def test_a_second_run_of_one_import_on_the_same_machine_stands_aside(tmp_path: Path) -> None:
    import fcntl

    settings = settings_for(tmp_path, allow=True)
    catalog = Catalog(settings.catalog)
    with catalog.session() as s:
        s.add(Asset(id="one", owner="alice", state="importing", source_url="http://127.0.0.1:9/v.mp4"))
    ctx = context(settings, catalog, [])
    settings.imports.spool_dir.mkdir(parents=True)
    with (settings.imports.spool_dir / "one.lock").open("a") as held:  # the first run, alive
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        assert run_import(ctx, "one") == "busy"
    with catalog.session() as s:
        assert s.get(Asset, "one").state == "importing"  # type: ignore[union-attr]
    assert run_import(ctx, "one") == "failed"  # alone now: it runs (nothing listens on port 9)
    catalog.dispose()
