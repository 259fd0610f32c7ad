"""Eviction policies against reference implementations on small traces, and hard byte budgets."""

from __future__ import annotations

import random

import pytest
from cachetools import LRUCache

from cdn_edge.cache import Entry, MemoryTier
from cdn_edge.eviction import make_policy
from cdn_edge.freshness import Freshness


def _trace(n: int, keys: int, seed: int, alpha: float = 0.9) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    weights = [1 / (rank + 1) ** alpha for rank in range(keys)]
    sizes = {f"k{i}": rng.randint(1, 40) for i in range(keys)}
    picks = rng.choices(range(keys), weights=weights, k=n)
    return [(f"k{i}", sizes[f"k{i}"]) for i in picks]


def _replay(policy_name: str, capacity: int, trace: list[tuple[str, int]]) -> list[bool]:
    """Hits per request through our real memory tier (policy + byte budget), asserting the budget."""
    tier = MemoryTier(capacity, make_policy(policy_name, capacity))
    hits = []
    for key, size in trace:
        found = tier.get(key) is not None
        hits.append(found)
        if not found:
            tier.put(Entry(key, 200, (), size, 0.0, Freshness(60)), b"x" * size)
        assert tier.used <= capacity
        assert tier.used == sum(len(b) for b in tier.bodies.values())
    return hits


def _cachetools_lru(capacity: int, trace: list[tuple[str, int]]) -> list[bool]:
    cache: LRUCache[str, int] = LRUCache(maxsize=capacity, getsizeof=lambda size: size)
    hits = []
    for key, size in trace:
        if key in cache:
            cache[key]  # noqa: B018 - a read updates recency
            hits.append(True)
        else:
            hits.append(False)
            if size <= capacity:
                cache[key] = size
    return hits


class ReferenceS3FIFO:
    """Straight from the SOSP'23 paper's pseudocode, with lists and linear scans: slow but obvious."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.s: list[list[object]] = []  # [key, size, freq], oldest first
        self.m: list[list[object]] = []
        self.g: list[list[object]] = []  # [key, size]

    def _bytes(self, q: list[list[object]]) -> int:
        return sum(int(e[1]) for e in q)  # type: ignore[call-overload]

    def _find(self, q: list[list[object]], key: str) -> list[object] | None:
        return next((e for e in q if e[0] == key), None)

    def request(self, key: str, size: int) -> bool:
        entry = self._find(self.s, key) or self._find(self.m, key)
        if entry is not None:
            entry[2] = min(int(entry[2]) + 1, 3)  # type: ignore[call-overload]
            return True
        if size > self.capacity:
            return False
        while self._bytes(self.s) + self._bytes(self.m) + size > self.capacity:
            self._evict()
        ghost = self._find(self.g, key)
        if ghost is not None:
            self.g.remove(ghost)
            self.m.append([key, size, 0])
        else:
            self.s.append([key, size, 0])
        return False

    def _evict(self) -> None:
        while True:
            if self.s and (self._bytes(self.s) >= 0.1 * self.capacity or not self.m):
                t = self.s.pop(0)
                if int(t[2]) >= 1:  # type: ignore[call-overload]
                    self.m.append([t[0], t[1], 0])
                    continue
                self.g.append([t[0], t[1]])
                while self._bytes(self.g) > 0.9 * self.capacity:
                    self.g.pop(0)
                return
            t = self.m.pop(0)
            if int(t[2]) > 0:  # type: ignore[call-overload]
                self.m.append([t[0], t[1], int(t[2]) - 1])  # type: ignore[call-overload]
                continue
            return


class ReferenceSieve:
    """SIEVE from the NSDI'24 paper: a list (newest first) and a hand index, linear scans."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.q: list[list[object]] = []  # [key, size, visited], newest first
        self.hand: str | None = None

    def request(self, key: str, size: int) -> bool:
        for e in self.q:
            if e[0] == key:
                e[2] = True
                return True
        if size > self.capacity:
            return False
        while sum(int(e[1]) for e in self.q) + size > self.capacity:  # type: ignore[call-overload]
            self._evict()
        self.q.insert(0, [key, size, False])
        return False

    def _evict(self) -> None:
        keys = [e[0] for e in self.q]
        i = keys.index(self.hand) if self.hand in keys else len(self.q) - 1
        while self.q[i][2]:
            self.q[i][2] = False
            i = i - 1 if i > 0 else len(self.q) - 1
        victim = self.q.pop(i)
        # The hand moves on to the next newer object (or wraps to the tail).
        self.hand = self.q[i - 1][0] if i > 0 else None  # type: ignore[assignment]
        del victim


@pytest.mark.parametrize("seed", range(5))
def test_lru_matches_cachetools(seed: int) -> None:
    trace = _trace(3000, 200, seed)
    assert _replay("lru", 500, trace) == _cachetools_lru(500, trace)


@pytest.mark.parametrize("seed", range(5))
def test_s3fifo_matches_reference(seed: int) -> None:
    trace = _trace(2000, 150, seed)
    reference = ReferenceS3FIFO(400)
    assert _replay("s3fifo", 400, trace) == [reference.request(k, s) for k, s in trace]


@pytest.mark.parametrize("seed", range(5))
def test_sieve_matches_reference(seed: int) -> None:
    trace = _trace(2000, 150, seed)
    reference = ReferenceSieve(400)
    assert _replay("sieve", 400, trace) == [reference.request(k, s) for k, s in trace]


def test_one_hit_wonders_stay_out_of_s3fifo_main() -> None:
    policy = make_policy("s3fifo", 100)
    tier = MemoryTier(100, policy)
    for i in range(5):  # a popular working set, hit twice
        tier.put(Entry(f"hot{i}", 200, (), 10, 0, Freshness(60)), b"x" * 10)
        tier.get(f"hot{i}")
    for i in range(200):  # a scan of objects seen once
        tier.put(Entry(f"scan{i}", 200, (), 10, 0, Freshness(60)), b"x" * 10)
    assert all(tier.get(f"hot{i}") is not None for i in range(5))
    assert not any(k.startswith("scan") for k in policy.main)  # type: ignore[attr-defined]
    lru = MemoryTier(100, make_policy("lru", 100))
    for i in range(5):
        lru.put(Entry(f"hot{i}", 200, (), 10, 0, Freshness(60)), b"x" * 10)
        lru.get(f"hot{i}")
    for i in range(200):
        lru.put(Entry(f"scan{i}", 200, (), 10, 0, Freshness(60)), b"x" * 10)
    assert all(lru.get(f"hot{i}") is None for i in range(5))  # the scan flushed LRU


def test_oversized_objects_are_not_stored() -> None:
    tier = MemoryTier(100, make_policy("s3fifo", 100))
    assert not tier.put(Entry("big", 200, (), 101, 0, Freshness(60)), b"x" * 101)
    assert tier.used == 0
