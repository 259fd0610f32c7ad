"""Per-upload locks with takeover: a newer request never gets 423 because an older one is stuck.

tusd answers 423 while a dead connection still holds an upload's lock, and its in-memory locker is
invisible to other instances. Here a lock is a lease kept alive by a heartbeat of its holder. A request
that finds the upload locked asks the holder to hand over (the holder stops at its next chunk boundary,
commits what it received and releases), which takes milliseconds even when the holder's client has
stalled mid-body. A dead process stops renewing and its lease runs out; a holder that neither answers
nor lets its lease lapse within `takeover_seconds` (stuck in one storage call) is taken over. The
backend is in-process (one ingest process), Redis, or the catalog database (several processes behind
one URL).

A holder taken over while stuck in a storage call may still finish its writes afterwards. Storage is
fenced by position instead of by a token: every byte is written at its fixed offset in the upload, so
a late writer can only rewrite the bytes its successor already holds at the same place. Filesystem:
positional writes and a side file per writer (tests/ingest/test_stale_writer.py). S3: part N always
holds bytes [(N-1) * part_size, N * part_size), so a late part is the same part again, and a late
tail object holds the bytes that follow the parts: it can move the offset, never change a byte, and the
client resends from the offset HEAD reports. `takeover_seconds` stays generous so that this stays rare.

The heartbeat is stopped by a flag it checks after every await, not by cancellation alone: on Python 3.11
`asyncio.wait_for` (which redis-py wraps around every socket write) returns normally when a cancel arrives
just as its inner call completes (CPython gh-86296), so a cancelled heartbeat could go on renewing the lease
of a request that had finished, and the request, awaiting it, was never answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from catalog.models import UploadLock
from catalog.session import Catalog
from ingest.errors import LockUnavailable
from ingest.uploads import rows_changed

log = logging.getLogger(__name__)
T = TypeVar("T")


class LockBackend(Protocol):
    """Atomic lease operations on one key. `token` identifies a holder. Every method raises
    LockUnavailable when the backend cannot be reached."""

    async def try_acquire(self, key: str, token: str, lease: float) -> bool: ...
    async def renew(self, key: str, token: str, lease: float) -> bool:
        """Extend the lease; False when `token` no longer holds the key (it was taken over)."""

    async def release(self, key: str, token: str) -> None: ...
    async def take_over(self, key: str, token: str, lease: float) -> None: ...
    async def request_release(self, key: str) -> None: ...
    async def release_requested(self, key: str) -> bool: ...
    async def close(self) -> None: ...


@dataclass
class Lease:
    """Held by one request. `stop` is set when another request wants the upload or the lease was lost
    (or could not be renewed)."""

    key: str
    token: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    lost: bool = False
    ended: bool = False  # the holder left hold(): its heartbeat stops at its next step


class MemoryLockBackend:
    def __init__(self) -> None:
        self._held: dict[str, tuple[str, float]] = {}
        self._requests: set[str] = set()

    async def try_acquire(self, key: str, token: str, lease: float) -> bool:
        holder = self._held.get(key)
        if holder is not None and holder[1] > time.monotonic():
            return False
        self._held[key] = (token, time.monotonic() + lease)
        self._requests.discard(key)
        return True

    async def renew(self, key: str, token: str, lease: float) -> bool:
        holder = self._held.get(key)
        if holder is None or holder[0] != token:
            return False
        self._held[key] = (token, time.monotonic() + lease)
        return True

    async def release(self, key: str, token: str) -> None:
        holder = self._held.get(key)
        if holder is not None and holder[0] == token:
            del self._held[key]

    async def take_over(self, key: str, token: str, lease: float) -> None:
        self._held[key] = (token, time.monotonic() + lease)
        self._requests.discard(key)

    async def request_release(self, key: str) -> None:
        if key in self._held:
            self._requests.add(key)

    async def release_requested(self, key: str) -> bool:
        return key in self._requests

    async def close(self) -> None:
        pass


_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisLockBackend:
    """Leases as Redis keys with a PX expiry; a dead process's lease simply runs out."""

    def __init__(self, url: str, prefix: str = "vodstack:ingest:lock:") -> None:
        import redis.asyncio as redis
        from redis.exceptions import RedisError

        self._errors = (RedisError, OSError)
        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)

    def _k(self, key: str) -> str:
        return self._prefix + key

    def _r(self, key: str) -> str:
        return self._prefix + key + ":release"

    @contextlib.contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except self._errors as exc:
            raise LockUnavailable(f"Redis unavailable during {what}: {exc}") from exc

    async def try_acquire(self, key: str, token: str, lease: float) -> bool:
        with self._translated("lock"):
            if await self._redis.set(self._k(key), token, nx=True, px=int(lease * 1000)):
                await self._redis.delete(self._r(key))
                return True
            return False

    async def renew(self, key: str, token: str, lease: float) -> bool:
        with self._translated("lease renewal"):
            return bool(await self._renew(keys=[self._k(key)], args=[token, int(lease * 1000)]))

    async def release(self, key: str, token: str) -> None:
        with self._translated("unlock"):
            await self._release(keys=[self._k(key)], args=[token])

    async def take_over(self, key: str, token: str, lease: float) -> None:
        with self._translated("takeover"):
            await self._redis.set(self._k(key), token, px=int(lease * 1000))
            await self._redis.delete(self._r(key))

    async def request_release(self, key: str) -> None:
        with self._translated("hand-over request"):
            await self._redis.set(self._r(key), b"1", px=60_000)

    async def release_requested(self, key: str) -> bool:
        with self._translated("hand-over check"):
            return bool(await self._redis.exists(self._r(key)))

    async def close(self) -> None:
        await self._redis.aclose()


class CatalogLockBackend:
    """Leases as rows of the catalog's upload_locks table: no extra server when the processes already
    share a database (PostgreSQL, or one SQLite file on one machine)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def _try_acquire(self, key: str, token: str, lease: float) -> bool:
        now = time.time()
        with self.catalog.session() as session:
            taken = rows_changed(
                session,
                update(UploadLock)
                .where(UploadLock.upload_id == key, UploadLock.expires_at < now)
                .values(holder=token, expires_at=now + lease, release_requested=False),
            )
            if taken:
                return True
        try:
            with self.catalog.session() as session:
                session.add(UploadLock(upload_id=key, holder=token, expires_at=now + lease, release_requested=False))
        except IntegrityError:
            return False
        return True

    def _renew(self, key: str, token: str, lease: float) -> bool:
        with self.catalog.session() as session:
            return bool(
                rows_changed(
                    session,
                    update(UploadLock)
                    .where(UploadLock.upload_id == key, UploadLock.holder == token)
                    .values(expires_at=time.time() + lease),
                )
            )

    def _release(self, key: str, token: str) -> None:
        with self.catalog.session() as session:
            session.execute(delete(UploadLock).where(UploadLock.upload_id == key, UploadLock.holder == token))

    def _take_over(self, key: str, token: str, lease: float) -> None:
        with self.catalog.session() as session:
            session.execute(
                update(UploadLock)
                .where(UploadLock.upload_id == key)
                .values(holder=token, expires_at=time.time() + lease, release_requested=False)
            )

    def _request_release(self, key: str) -> None:
        with self.catalog.session() as session:
            session.execute(update(UploadLock).where(UploadLock.upload_id == key).values(release_requested=True))

    def _release_requested(self, key: str) -> bool:
        with self.catalog.session() as session:
            return bool(session.scalar(select(UploadLock.release_requested).where(UploadLock.upload_id == key)))

    async def _call(self, what: str, fn: Callable[..., T], *args: object) -> T:
        try:
            return await run_in_threadpool(fn, *args)
        except SQLAlchemyError as exc:
            raise LockUnavailable(f"catalog unavailable during {what}: {exc}") from exc

    async def try_acquire(self, key: str, token: str, lease: float) -> bool:
        return await self._call("lock", self._try_acquire, key, token, lease)

    async def renew(self, key: str, token: str, lease: float) -> bool:
        return await self._call("lease renewal", self._renew, key, token, lease)

    async def release(self, key: str, token: str) -> None:
        await self._call("unlock", self._release, key, token)

    async def take_over(self, key: str, token: str, lease: float) -> None:
        await self._call("takeover", self._take_over, key, token, lease)

    async def request_release(self, key: str) -> None:
        await self._call("hand-over request", self._request_release, key)

    async def release_requested(self, key: str) -> bool:
        return await self._call("hand-over check", self._release_requested, key)

    async def close(self) -> None:
        pass


class Locker:
    def __init__(
        self,
        backend: LockBackend,
        *,
        lease_seconds: float = 10.0,
        takeover_seconds: float = 30.0,
        poll_seconds: float = 0.05,
    ) -> None:
        self.backend = backend
        self.lease_seconds = lease_seconds
        self.takeover_seconds = takeover_seconds
        self.poll_seconds = poll_seconds
        # How often a holder looks for hand-over requests (a read), and renews its lease (a write).
        self.heartbeat_seconds = min(0.2, lease_seconds / 3)
        self.renew_seconds = lease_seconds / 3

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[Lease]:
        """Hold the upload `key` for the body of the `async with`. Raises LockUnavailable when the
        backend cannot be reached to take it; once held, backend failures only set `lease.stop`."""
        lease = Lease(key, uuid.uuid4().hex)
        await self._acquire(lease)
        heartbeat = asyncio.create_task(self._heartbeat(lease))
        try:
            yield lease
        finally:
            lease.ended = True
            heartbeat.cancel()  # wakes it up now; `ended` stops it even if the cancel is swallowed
            try:
                # Waits without taking the heartbeat's cancellation for our own: a cancel of this task
                # still propagates (contextlib.suppress(CancelledError) here used to swallow it).
                await asyncio.wait([heartbeat])
                if not heartbeat.cancelled() and (error := heartbeat.exception()) is not None:
                    log.error("lock heartbeat of upload %s failed", key, exc_info=error)
            finally:
                if not lease.lost:
                    await self._release(lease)

    async def _release(self, lease: Lease) -> None:
        try:
            await self.backend.release(lease.key, lease.token)
        except LockUnavailable as exc:
            # The request's work is done; its lease runs out by itself.
            log.warning("could not release the lock of upload %s (it expires on its own): %s", lease.key, exc)

    async def _acquire(self, lease: Lease) -> None:
        deadline = time.monotonic() + self.takeover_seconds
        ask_at = 0.0
        while not await self.backend.try_acquire(lease.key, lease.token, self.lease_seconds):
            now = time.monotonic()
            if now >= deadline:
                # The holder neither answered nor let its lease run out: it is wedged. Take over.
                await self.backend.take_over(lease.key, lease.token, self.lease_seconds)
                return
            if now >= ask_at:
                # Asked again as long as we wait: another waiter that takes the lock first clears
                # the request (a new holder starts unasked), and its holder must hear ours too.
                await self.backend.request_release(lease.key)
                ask_at = now + self.heartbeat_seconds
            await asyncio.sleep(self.poll_seconds)

    async def _heartbeat(self, lease: Lease) -> None:
        """Renew the lease and watch for hand-over requests until the holder leaves (`lease.ended`)."""
        renewed = time.monotonic()
        while not lease.ended:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                if not lease.ended and time.monotonic() - renewed >= self.renew_seconds:
                    if not await self.backend.renew(lease.key, lease.token, self.lease_seconds):
                        lease.lost = True
                        lease.stop.set()
                        return
                    renewed = time.monotonic()
                if not lease.ended and await self.backend.release_requested(lease.key):
                    lease.stop.set()
            except LockUnavailable as exc:
                # Without a renewed lease another process may take the upload: stop at the next chunk
                # boundary and commit what arrived (the client resumes from the offset).
                log.warning("lock heartbeat of upload %s failed, stopping the request: %s", lease.key, exc)
                lease.stop.set()
                return


def make_locker(
    kind: str, *, catalog: Catalog, redis_url: str, lease_seconds: float, takeover_seconds: float
) -> Locker:
    backend: LockBackend
    if kind == "redis":
        backend = RedisLockBackend(redis_url)
    elif kind == "catalog":
        backend = CatalogLockBackend(catalog)
    else:
        backend = MemoryLockBackend()
    return Locker(backend, lease_seconds=lease_seconds, takeover_seconds=takeover_seconds)
