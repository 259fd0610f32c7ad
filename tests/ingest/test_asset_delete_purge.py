"""DELETE /assets/{id} removes the media and purges every cache node (real shield and edges over a
real origin, all on loopback); a node that was down keeps its purge in the outbox until it confirms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from catalog.models import Asset, AssetState
from catalog.session import Catalog
from cdn_edge.app import create_app as create_edge
from edgepurge.client import HttpPurger
from edgepurge.outbox import pending, run_due
from edgepurge.settings import PurgeSettings
from ingest.app import create_app
from jobs.celery_app import make_celery
from tests.cdn_edge.edge_stack import ASSET, MASTER, SEGMENT, SEGMENT_BYTES, edge_settings, make_origin
from tests.ingest.conftest import AUTH, make_settings
from tests.ingest.harness import ServerThread
from webhooks.backoff import RetryPolicy

TOKEN = "purge-token"


def node(tmp: Path, name: str, upstream: str, transport: httpx.AsyncBaseTransport | None = None) -> ServerThread:
    role = "shield" if transport is not None else "edge"
    settings = edge_settings(tmp, name, role, upstream, purge_token=TOKEN)
    return ServerThread(create_edge(settings, transport=transport))


def test_delete_purges_every_node_and_retries_the_one_that_was_down(tmp_path: Path) -> None:
    origin = make_origin(tmp_path)  # publishes ASSET into tmp/objects "media": the bucket ingest deletes from
    with (
        node(tmp_path, "shield", "http://origin", httpx.ASGITransport(app=origin)) as shield,
        node(tmp_path, "edge-1", shield.url) as edge1,
    ):
        edge2 = node(tmp_path, "edge-2", shield.url).__enter__()
        edge2_port = int(edge2.url.rsplit(":", 1)[1])
        for url in (edge1.url, edge2.url):
            for key in (SEGMENT, MASTER):
                assert httpx.get(f"{url}/{key}").status_code == 200
        edge2.__exit__(None, None, None)  # down when the asset is deleted

        purge = PurgeSettings(targets=[shield.url, edge2.url, edge1.url], token=TOKEN, timeout_seconds=2)
        settings = make_settings(tmp_path, "filesystem", probe_on_completion=False, purge=purge)
        catalog = Catalog(settings.catalog)
        with catalog.session() as s:
            s.add(Asset(id=ASSET, owner="operator", state=AssetState.READY, master_key=MASTER))
        try:
            with ServerThread(create_app(settings, celery_app=make_celery(settings.broker))) as ingest:
                assert httpx.delete(f"{ingest.url}/assets/{ASSET}", headers=AUTH).status_code == 204
            # Gone at the edge that was up (and at the shield): not its cached copy, a miss that finds nothing.
            for key in (SEGMENT, MASTER):
                assert httpx.get(f"{edge1.url}/{key}").status_code == 404, key
                assert httpx.get(f"{shield.url}/{key}").status_code == 404, key
            [row] = pending(catalog)
            # edge-2 did not confirm: it stays, and so does every node after it (edge-1 was purged anyway).
            assert row.remaining == [edge2.url, edge1.url] and row.attempts == 1
            assert edge2.url in (row.last_error or "")

            # edge-2 comes back (same address); the retry, once due, purges it and the row is done.
            with ServerThread(
                create_edge(edge_settings(tmp_path, "edge-2", "edge", shield.url, purge_token=TOKEN)), port=edge2_port
            ):
                purger = HttpPurger(token=TOKEN, timeout=2)
                policy = RetryPolicy(5, 600, float("inf"))
                try:
                    now = datetime.now(UTC)
                    early = run_due(
                        catalog, purger, policy=policy, clock=lambda: now, uniform=lambda: 0.0, lease_seconds=60
                    )
                    assert early.done == [] and len(pending(catalog)) == 1  # not due yet: backoff
                    later = now + timedelta(hours=1)
                    report = run_due(
                        catalog, purger, policy=policy, clock=lambda: later, uniform=lambda: 0.0, lease_seconds=60
                    )
                finally:
                    purger.close()
                assert report.done == [ASSET] and pending(catalog) == []
        finally:
            catalog.dispose()


def test_delete_without_purge_leaves_the_edge_copy(tmp_path: Path) -> None:
    """The control: with no nodes configured the edge still serves its cached copy after the delete,
    which is what the purge above prevents."""
    origin = make_origin(tmp_path)
    with node(tmp_path, "edge-1", "http://origin", httpx.ASGITransport(app=origin)) as edge:
        assert httpx.get(f"{edge.url}/{SEGMENT}").content == SEGMENT_BYTES
        settings = make_settings(tmp_path, "filesystem", probe_on_completion=False)
        catalog = Catalog(settings.catalog)
        with catalog.session() as s:
            s.add(Asset(id=ASSET, owner="operator", state=AssetState.READY, master_key=MASTER))
        catalog.dispose()
        with ServerThread(create_app(settings, celery_app=make_celery(settings.broker))) as ingest:
            assert httpx.delete(f"{ingest.url}/assets/{ASSET}", headers=AUTH).status_code == 204
        assert httpx.get(f"{edge.url}/{SEGMENT}").content == SEGMENT_BYTES
