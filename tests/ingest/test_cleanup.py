"""The cleanup loop outlives a failing round: the catalog (or storage) away for a while is logged, and the
next round does the work."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from catalog.models import UploadState
from catalog.session import Catalog
from ingest.app import create_app
from ingest.cleanup import cleanup_forever, run_cleanup
from ingest.deps import Ingest
from ingest.settings import IngestSettings
from ingest.store import UploadInfo, UploadStore
from ingest.uploads import create_upload, get_upload
from storage.errors import StorageUnavailable


class FailingCatalog:
    """The real catalog, unreachable while `down` is set (as when its database restarts)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.down = False

    @contextmanager
    def session(self) -> Iterator[Session]:
        if self.down:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
        with self.catalog.session() as session:
            yield session


class FailingStore:
    """The real upload store whose backend is unreachable while `down` is set."""

    def __init__(self, store: UploadStore) -> None:
        self.store = store
        self.down = False
        self.broken: set[str] = set()  # uploads whose storage cannot be discarded

    def __getattr__(self, name: str) -> object:
        if self.down:
            raise StorageUnavailable("S3 unreachable during list parts: connection refused")
        return getattr(self.store, name)

    def discard(self, upload: UploadInfo) -> None:
        if self.down or upload.id in self.broken:
            raise StorageUnavailable("S3 unreachable during abort multipart: connection refused")
        self.store.discard(upload)


@pytest.fixture
def ingest(settings: IngestSettings, celery_app) -> Iterator[Ingest]:  # type: ignore[no-untyped-def]
    real: Ingest = create_app(settings, celery_app=celery_app).state.ingest
    yield dataclasses.replace(real, catalog=FailingCatalog(real.catalog), store=FailingStore(real.store))  # type: ignore[arg-type]
    real.catalog.dispose()


def _expired_upload(ingest: Ingest) -> str:
    upload_id = uuid.uuid4().hex
    state = ingest.store.create(upload_id, f"originals/{upload_id}", 10)
    create_upload(
        ingest.catalog,
        upload_id,
        length=10,
        meta={},
        concat=None,
        parts=(),
        store_state=state,
        expiry=timedelta(seconds=-60),
    )
    return upload_id


@pytest.mark.parametrize("failing", ["catalog", "store"])
def test_cleanup_loop_survives_a_failing_round(ingest: Ingest, settings: IngestSettings, failing: str, caplog) -> None:  # type: ignore[no-untyped-def]
    upload_id = _expired_upload(ingest)
    ingest.store.store.sweep_grace_seconds = 0  # type: ignore[attr-defined]  # leftovers go at once
    dependency = ingest.catalog if failing == "catalog" else ingest.store
    stopping = asyncio.Event()
    rounds: list[float] = []

    async def next_round(seconds: float) -> None:  # the loop's clock: no real waiting
        rounds.append(seconds)
        dependency.down = len(rounds) == 1  # type: ignore[union-attr]  # away for the first round only
        if len(rounds) == 3:
            stopping.set()

    with caplog.at_level(logging.WARNING, logger="ingest.cleanup"):
        asyncio.run(cleanup_forever(ingest, 300, stopping, sleep=next_round))
    assert rounds == [300, 300, 300]
    assert any("ingest cleanup failed" in r.getMessage() for r in caplog.records)
    # The second round expired the upload (catalog down) or swept what its failed discard left (store
    # down): every byte it held is reclaimed.
    upload = get_upload(ingest.catalog, upload_id)
    assert upload is not None and upload.state == UploadState.EXPIRED
    if settings.storage.backend == "filesystem":
        assert list(settings.spool_dir.iterdir()) == []
    else:
        assert list(ingest.store.multipart.pending(settings.storage.staging_bucket, "originals/")) == []


def test_cleanup_loop_stops_when_asked_even_if_a_cancel_is_lost(ingest: Ingest) -> None:
    stopping = asyncio.Event()

    async def next_round(seconds: float) -> None:
        stopping.set()  # shutdown begins while a round is due; its cancel never reaches the loop

    asyncio.run(asyncio.wait_for(cleanup_forever(ingest, 300, stopping, sleep=next_round), 30))


def test_one_upload_whose_storage_fails_does_not_hold_up_the_others(ingest: Ingest, settings: IngestSettings) -> None:
    broken, fine = _expired_upload(ingest), _expired_upload(ingest)
    ingest.store.broken.add(broken)  # type: ignore[attr-defined]
    assert run_cleanup(ingest).expired == 2
    for upload_id in (broken, fine):
        upload = get_upload(ingest.catalog, upload_id)
        assert upload is not None and upload.state == UploadState.EXPIRED
    if settings.storage.backend == "filesystem":
        # The broken one's bytes wait for the sweep (it is no longer open); the other's are gone.
        assert [p.name for p in settings.spool_dir.iterdir()] == [broken]
