"""The disk tier keeps to its budget, survives a restart, and the two tiers cooperate."""

from __future__ import annotations

from pathlib import Path

from cdn_edge.cache import DiskTier, Entry, MemoryTier, TieredCache
from cdn_edge.eviction import make_policy
from cdn_edge.freshness import Freshness


def _entry(key: str, size: int) -> Entry:
    return Entry(key, 200, (("content-type", "video/mp4"),), size, 1000.0, Freshness(60, 0, 30))


def _disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.glob("*/*.body"))


def test_disk_budget_and_restart(tmp_path: Path) -> None:
    disk = DiskTier(tmp_path, 1000, make_policy("lru", 1000))
    for i in range(30):
        assert disk.put(_entry(f"a/{i}", 100), bytes([i]) * 100)
        assert disk.used <= 1000 and _disk_bytes(tmp_path) == disk.used
    assert len(disk) == 10
    again = DiskTier(tmp_path, 1000, make_policy("lru", 1000))
    assert set(again.entries) == {f"a/{i}" for i in range(20, 30)}
    entry, path = again.get("a/25")  # type: ignore[misc]
    assert entry == _entry("a/25", 100) and path.read_bytes() == bytes([25]) * 100
    # A smaller budget after a restart evicts down to it.
    smaller = DiskTier(tmp_path, 300, make_policy("s3fifo", 300))
    assert smaller.used <= 300 and _disk_bytes(tmp_path) == smaller.used


def test_tiers_together(tmp_path: Path) -> None:
    cache = TieredCache(
        MemoryTier(250, make_policy("lru", 250)), DiskTier(tmp_path, 10_000, make_policy("lru", 10_000)), 120
    )
    cache.store(_entry("k/small", 100), [b"s" * 60, b"s" * 40])
    cache.store(_entry("k/large", 200), [b"l" * 200])  # over the memory tier's object limit
    assert cache.lookup("k/small").tier == "memory"  # type: ignore[union-attr]
    assert cache.lookup("k/large").tier == "disk"  # type: ignore[union-attr]
    assert cache.lookup("k/large").path.read_bytes() == b"l" * 200  # type: ignore[union-attr]
    assert cache.disk.get("k/small")[1].read_bytes() == b"s" * 100  # type: ignore[index, union-attr]
    assert cache.purge_prefix("k/") == 2
    assert cache.lookup("k/small") is None and _disk_bytes(tmp_path) == 0
