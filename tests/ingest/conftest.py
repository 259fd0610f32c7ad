"""Fixtures: an ingest app over a tmp data dir (filesystem backend, or S3 on moto's server), a Celery app
on the filesystem transport whose queue folder the tests inspect, and a real uvicorn for real clients."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog.settings import CatalogSettings
from ingest.settings import IngestSettings
from jobs.celery_app import make_celery
from jobs.settings import BrokerSettings
from storage.settings import StorageSettings
from tests.ingest.harness import ServerThread, Tus, queued_messages
from tests.s3 import moto_server

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["filesystem", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_settings(tmp: Path, backend: str, endpoint: str | None = None, **extra: object) -> IngestSettings:
    storage = StorageSettings(backend=backend, root=tmp / "objects")
    if backend == "s3":
        assert endpoint is not None
        storage = StorageSettings(
            backend="s3",
            s3_endpoint=endpoint,
            s3_access_key="testing",
            s3_secret_key="testing",
            # One bucket pair per test: tests never see each other's objects.
            s3_bucket_prefix=f"t{uuid.uuid4().hex[:12]}-",
        )
    return IngestSettings(
        storage=storage,
        catalog=CatalogSettings(url=f"sqlite:///{tmp / 'catalog.db'}"),
        broker=BrokerSettings(url="filesystem://", folder=tmp / "broker"),
        tokens=[TOKEN],
        spool_dir=tmp / "uploads",
        cleanup_interval_seconds=0,
        **extra,
    )


@pytest.fixture
def settings(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> IngestSettings:
    endpoint = request.getfixturevalue("moto_endpoint") if backend == "s3" else None
    return make_settings(tmp_path, backend, endpoint)


@pytest.fixture
def celery_app(settings: IngestSettings):  # type: ignore[no-untyped-def]
    return make_celery(settings.broker)


@pytest.fixture
def server(settings: IngestSettings, celery_app) -> Iterator[ServerThread]:  # type: ignore[no-untyped-def]
    from ingest.app import create_app

    with ServerThread(create_app(settings, celery_app=celery_app)) as srv:
        yield srv


@pytest.fixture
def queue(settings: IngestSettings):  # type: ignore[no-untyped-def]
    return lambda: queued_messages(settings.broker.folder)


@pytest.fixture
def tus(server: ServerThread) -> Iterator[Tus]:
    client = Tus(server.url, TOKEN)
    yield client
    client.close()
