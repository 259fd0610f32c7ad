"""The ingest service's collaborators, built once by create_app and handed to routes as a dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from catalog.session import Catalog
from ingest.auth import KeyRing, Principal, bearer_key, require
from ingest.completion import Finisher
from ingest.errors import TusError
from ingest.locks import Locker
from ingest.metrics import IngestMetrics
from ingest.settings import IngestSettings
from ingest.store import UploadInfo, UploadStore
from jobs.celery_app import enqueue_transcode
from storage.objects import ObjectStore


@dataclass(frozen=True)
class Ingest:
    settings: IngestSettings
    catalog: Catalog
    objects: ObjectStore
    store: UploadStore
    locker: Locker
    finisher: Finisher
    metrics: IngestMetrics
    keys: KeyRing
    celery: Any

    async def complete(self, upload: UploadInfo, *, final: bool = False) -> None:
        """Finish an upload whose every byte is stored (caller holds its lock); enqueue its job."""
        finished = await run_in_threadpool(self.finisher.assemble if final else self.finisher.finish, upload)
        if finished.moved:
            self.metrics.uploads.labels("finished").inc()
        if finished.job_id is not None:
            # After the commit (inside finish): a worker never sees a job the catalog does not have.
            await run_in_threadpool(enqueue_transcode, self.celery, finished.job_id)

    async def authenticate(self, request: Request, scope: str) -> Principal:
        """The caller's principal, holding `scope`; TusError 401 (no valid key) or 403 (scope missing)."""
        key = bearer_key(request.headers.get("authorization"))
        principal = await self.keys.resolve(request.scope, key)  # once per request (see KeyRing.resolve)
        if principal is None:
            raise TusError("unauthorized", "the bearer token is not valid")
        require(principal, scope)
        return principal


# Declares the bearer scheme in the OpenAPI document; never refuses by itself (routes authenticate,
# so that each answers in its own format and TUS checks Tus-Resumable first).
bearer_scheme = HTTPBearer(auto_error=False, description="an API key (`vodstack keys create`) or a configured token")


def get_ingest(request: Request) -> Ingest:
    return request.app.state.ingest  # type: ignore[no-any-return]


IngestDep = Annotated[Ingest, Depends(get_ingest)]
