"""Per-upload locks: hand-over on request, takeover of a wedged holder, expiry of a dead one."""

from __future__ import annotations

import asyncio
import os

import pytest

from catalog.session import Catalog
from catalog.settings import CatalogSettings
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

        async def holder() -> None:
            async with locker.hold("u1") as lease:
                events.append("held")
                await lease.stop.wait()  # a PATCH stopping at its next chunk boundary
                events.append("asked")

        task = asyncio.create_task(holder())
        await asyncio.sleep(0.1)
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
        assert await backend.try_acquire("u3", "dead", 0.2)
        assert not await backend.try_acquire("u3", "new", 5)
        await asyncio.sleep(0.3)
        ok = await backend.try_acquire("u3", "new", 5)
        await backend.close()
        return ok

    assert asyncio.run(scenario())
