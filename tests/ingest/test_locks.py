"""Per-upload locks: hand-over on request, takeover of a wedged holder, expiry of a dead one."""

from __future__ import annotations

import asyncio
import os

import pytest

from catalog.session import Catalog
from catalog.settings import CatalogSettings
from ingest.errors import LockUnavailable
from ingest.locks import CatalogLockBackend, Locker, MemoryLockBackend, RedisLockBackend


@pytest.fixture(params=["memory", "catalog", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request, tmp_path):  # type: ignore[no-untyped-def]
    if request.param == "memory":
        yield MemoryLockBackend()
    elif request.param == "catalog":
        catalog = Catalog(CatalogSettings(url=f"sqlite:///{tmp_path / 'c.db'}"))
        yield CatalogLockBackend(catalog)
        catalog.dispose()
    else:
        yield RedisLockBackend(os.environ["VODSTACK_TEST_REDIS_URL"], prefix=f"test:{tmp_path.name}:")


def test_holder_hands_over_when_asked(backend) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> list[str]:
        locker = Locker(backend, lease_seconds=5, takeover_seconds=5)
        events: list[str] = []
        held = asyncio.Event()

        async def holder() -> None:
            async with locker.hold("u1") as lease:
                events.append("held")
                held.set()
                await lease.stop.wait()  # a PATCH stopping at its next chunk boundary
                events.append("asked")

        task = asyncio.create_task(holder())
        await held.wait()  # however long the backend takes to grant it on a loaded machine
        async with locker.hold("u1") as lease:
            events.append("taken")
            assert not lease.stop.is_set()
        await task
        await backend.close()
        return events

    assert asyncio.run(scenario()) == ["held", "asked", "taken"]


def test_wedged_holder_is_taken_over(backend) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> bool:
        locker = Locker(backend, lease_seconds=30, takeover_seconds=0.5)
        # A holder that will never answer: its lease is long, it ignores stop.
        assert await backend.try_acquire("u2", "wedged", 30)
        async with locker.hold("u2") as lease:
            pass
        renewed = await backend.renew("u2", "wedged", 30)
        await backend.close()
        return renewed is False and not lease.lost

    assert asyncio.run(scenario())


def test_dead_holder_lease_runs_out(backend) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> bool:
        # A lease long enough that the second call comes within it on a loaded machine, then polled:
        # the holder is dead, so the new request gets the upload as soon as its lease runs out.
        assert await backend.try_acquire("u3", "dead", 1.0)
        assert not await backend.try_acquire("u3", "new", 5)
        deadline = asyncio.get_running_loop().time() + 30
        while not (ok := await backend.try_acquire("u3", "new", 5)):
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
        await backend.close()
        return ok

    assert asyncio.run(scenario())


class SwallowingBackend(MemoryLockBackend):
    """A backend whose hand-over check swallows a cancel that arrives as its call completes, as
    asyncio.wait_for does on Python 3.11 (CPython gh-86296) and redis-py calls it around every write."""

    def __init__(self) -> None:
        super().__init__()
        self.checking = asyncio.Event()

    async def release_requested(self, key: str) -> bool:
        self.checking.set()
        try:
            await asyncio.sleep(0.01)  # the round trip to the server
        except asyncio.CancelledError:
            pass  # wait_for returns the inner result instead of raising
        return await super().release_requested(key)


def test_holder_leaves_even_when_its_heartbeat_swallows_the_cancel() -> None:
    async def scenario() -> tuple[bool, bool, int]:
        backend = SwallowingBackend()
        locker = Locker(backend, lease_seconds=5, takeover_seconds=30)
        # A heartbeat that outlived its request kept hold() waiting until cancelled from outside.
        async with asyncio.timeout(10) as bound:
            async with locker.hold("u4"):
                await backend.checking.wait()  # leave while the heartbeat is inside the backend call
        left = len(asyncio.all_tasks()) - 1  # tasks still running besides this one
        return bound.expired(), await backend.try_acquire("u4", "next", 5), left

    expired, released, left = asyncio.run(scenario())
    assert not expired  # hold() returned by itself
    assert released  # the lock was released, not left to run out
    assert left == 0  # no heartbeat goes on renewing


def test_a_second_waiter_is_not_forgotten_when_the_first_takes_the_lock(backend) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> list[str]:
        # takeover_seconds is far beyond the bound below: only hand-overs can make it in time.
        locker = Locker(backend, lease_seconds=5, takeover_seconds=60)
        events: list[str] = []

        async def stalled(name: str) -> None:
            # A PATCH whose client stalled: it holds until asked to hand over.
            async with locker.hold("u5") as lease:
                events.append(name)
                await lease.stop.wait()

        async def until(count: int) -> None:
            while len(events) < count:
                await asyncio.sleep(0.01)

        async with asyncio.timeout(20):
            first = asyncio.create_task(stalled("first"))
            await until(1)
            # Two requests wait at once; whichever gets the lock clears the pending hand-over request,
            # and the other one must still be heard by the new holder.
            waiters = [asyncio.create_task(stalled(name)) for name in ("second", "third")]
            await until(3)
            async with locker.hold("u5"):
                events.append("last")
            await asyncio.gather(first, *waiters)
        await backend.close()
        return events

    events = asyncio.run(scenario())
    assert events[0] == "first" and events[-1] == "last"
    assert sorted(events[1:3]) == ["second", "third"]


@pytest.mark.redis
def test_redis_heartbeat_stops_however_its_cancel_lands(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Real redis-py: leave hold() while the heartbeat is anywhere in a Redis call, many times."""

    async def scenario() -> int:
        backend = RedisLockBackend(os.environ["VODSTACK_TEST_REDIS_URL"], prefix=f"test:{tmp_path.name}:")
        locker = Locker(backend, lease_seconds=5, takeover_seconds=60)
        locker.heartbeat_seconds = 0  # the heartbeat is always in a Redis call, as under load
        cycles = 0
        for i in range(300):
            async with asyncio.timeout(10) as bound:
                async with locker.hold(f"u{i % 3}"):
                    await asyncio.sleep(0.001 * (i % 7))
            if bound.expired() or len(asyncio.all_tasks()) > 1:
                break  # hold() needed a cancel from outside, or left its heartbeat running
            cycles += 1
        await backend.close()
        return cycles

    assert asyncio.run(scenario()) == 300


class UnreachableBackend(MemoryLockBackend):
    """Takes the lock, then loses its server: every later call fails as the Redis backend's would."""

    def __init__(self) -> None:
        super().__init__()
        self.reachable = True

    async def release_requested(self, key: str) -> bool:
        self.reachable = False
        raise LockUnavailable("Redis unavailable during hand-over check: connection refused")

    async def release(self, key: str, token: str) -> None:
        if not self.reachable:
            raise LockUnavailable("Redis unavailable during unlock: connection refused")
        await super().release(key, token)


def test_holder_stops_when_the_backend_goes_away_and_still_answers(caplog) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> bool:
        locker = Locker(UnreachableBackend(), lease_seconds=5, takeover_seconds=30)
        async with asyncio.timeout(10), locker.hold("u6") as lease:
            await lease.stop.wait()  # the request stops at its next chunk boundary and commits
        return lease.lost

    assert asyncio.run(scenario()) is False  # not taken over: its lease simply runs out
    messages = [r.getMessage() for r in caplog.records]
    assert any("heartbeat of upload u6 failed" in m for m in messages)
    assert any("could not release the lock of upload u6" in m for m in messages)
