"""The ingest service's collaborators, built once by create_app and handed to routes as a dependency."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from catalog.session import Catalog
from ingest.completion import Finisher
from ingest.errors import TusError
from ingest.locks import Locker
from ingest.metrics import IngestMetrics
from ingest.settings import IngestSettings
from ingest.store import UploadInfo, UploadStore
from storage.objects import ObjectStore
from transcoder.celery_app import enqueue_transcode


@dataclass(frozen=True)
class Ingest:
    settings: IngestSettings
    catalog: Catalog
    objects: ObjectStore
    store: UploadStore
    locker: Locker
    finisher: Finisher
    metrics: IngestMetrics
    tokens: frozenset[str]
    celery: Any

    async def complete(self, upload: UploadInfo, *, final: bool = False) -> None:
        """Finish an upload whose every byte is stored (caller holds its lock); enqueue its job."""
        finished = await run_in_threadpool(self.finisher.assemble if final else self.finisher.finish, upload)
        if finished.moved:
            self.metrics.uploads.labels("finished").inc()
        if finished.job_id is not None:
            # After the commit (inside finish): a worker never sees a job the catalog does not have.
            await run_in_threadpool(enqueue_transcode, self.celery, finished.job_id)

    def check_token(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise TusError("unauthorized")
        # Compare against every token so timing does not reveal which one was close.
        matched = False
        for candidate in self.tokens:
            matched |= secrets.compare_digest(candidate.encode(), token.strip().encode())
        if not matched:
            raise TusError("unauthorized", "the bearer token is not valid")


def get_ingest(request: Request) -> Ingest:
    return request.app.state.ingest  # type: ignore[no-any-return]


IngestDep = Annotated[Ingest, Depends(get_ingest)]
