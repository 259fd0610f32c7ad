"""Eviction policies over byte-sized objects. Pure bookkeeping: the tier owning the bytes asks a policy
for victims until an insert fits its budget.

- LRU: the baseline.
- S3-FIFO (Yang et al., SOSP 2023): a small FIFO (10% of the bytes) admits new objects; only those
  hit again while there move to the main FIFO, the rest leave a ghost entry. One-hit wonders (most
  objects in a long-tailed video catalog) never displace the main cache; a ghost hit goes straight to
  main. Main is FIFO with reinsertion (CLOCK with a 2-bit counter), so a hit is O(1) and lock-light.
- SIEVE (Zhang et al., NSDI 2024): one FIFO queue, a visited bit, and a hand that sweeps from the
  tail and keeps visited objects in place. No admission, but simple and scan-resistant.

Written here rather than taken from cachetools: cachetools' caches own their values and evict by their
own size accounting, while our tiers keep bytes in files and need a policy that only names victims.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol


class EvictionPolicy(Protocol):
    name: str

    def insert(self, key: str, size: int) -> None:
        """A new object of `size` bytes is stored (the key is not currently tracked)."""

    def access(self, key: str) -> None:
        """A tracked object was read."""

    def remove(self, key: str) -> None:
        """A tracked object is removed for another reason (purge, replacement). Unknown keys are ignored."""

    def victim(self) -> str:
        """Choose the next object to evict and stop tracking it. Raises KeyError when nothing is tracked."""


class LRUPolicy:
    name = "lru"

    def __init__(self, capacity: int) -> None:
        self._order: OrderedDict[str, int] = OrderedDict()

    def insert(self, key: str, size: int) -> None:
        self._order[key] = size

    def access(self, key: str) -> None:
        if key in self._order:
            self._order.move_to_end(key)

    def remove(self, key: str) -> None:
        self._order.pop(key, None)

    def victim(self) -> str:
        key, _ = self._order.popitem(last=False)
        return key


class S3FIFOPolicy:
    name = "s3fifo"
    SMALL_RATIO = 0.1
    MAX_FREQ = 3

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.small: OrderedDict[str, int] = OrderedDict()  # oldest first
        self.main: OrderedDict[str, int] = OrderedDict()
        self.ghost: OrderedDict[str, int] = OrderedDict()
        self.freq: dict[str, int] = {}
        self.small_bytes = 0
        self.main_bytes = 0
        self.ghost_bytes = 0

    def insert(self, key: str, size: int) -> None:
        self.freq[key] = 0
        if key in self.ghost:
            self.ghost_bytes -= self.ghost.pop(key)
            self.main[key] = size
            self.main_bytes += size
        else:
            self.small[key] = size
            self.small_bytes += size

    def access(self, key: str) -> None:
        if key in self.freq:
            self.freq[key] = min(self.freq[key] + 1, self.MAX_FREQ)

    def remove(self, key: str) -> None:
        if key in self.small:
            self.small_bytes -= self.small.pop(key)
        elif key in self.main:
            self.main_bytes -= self.main.pop(key)
        self.freq.pop(key, None)

    def victim(self) -> str:
        while True:
            if self.small and (self.small_bytes >= self.SMALL_RATIO * self.capacity or not self.main):
                key, size = self.small.popitem(last=False)
                self.small_bytes -= size
                if self.freq[key] >= 1:
                    # Hit while on probation: promote, and start counting again in main.
                    self.freq[key] = 0
                    self.main[key] = size
                    self.main_bytes += size
                    continue
                del self.freq[key]
                self._remember(key, size)
                return key
            if not self.main:
                raise KeyError("nothing to evict")
            key, size = self.main.popitem(last=False)
            if self.freq[key] > 0:
                self.freq[key] -= 1
                self.main[key] = size
                continue
            self.main_bytes -= size
            del self.freq[key]
            return key

    def _remember(self, key: str, size: int) -> None:
        # The ghost holds keys only, bounded like main (90% of the bytes) as in the paper.
        self.ghost[key] = size
        self.ghost_bytes += size
        while self.ghost and self.ghost_bytes > (1 - self.SMALL_RATIO) * self.capacity:
            _, old = self.ghost.popitem(last=False)
            self.ghost_bytes -= old


class _Node:
    __slots__ = ("key", "visited", "newer", "older")

    def __init__(self, key: str) -> None:
        self.key = key
        self.visited = False
        self.newer: _Node | None = None
        self.older: _Node | None = None


class SievePolicy:
    name = "sieve"

    def __init__(self, capacity: int) -> None:
        self.nodes: dict[str, _Node] = {}
        self.head: _Node | None = None  # newest
        self.tail: _Node | None = None  # oldest
        self.hand: _Node | None = None

    def insert(self, key: str, size: int) -> None:
        node = _Node(key)
        node.older = self.head
        if self.head is not None:
            self.head.newer = node
        self.head = node
        if self.tail is None:
            self.tail = node
        self.nodes[key] = node

    def access(self, key: str) -> None:
        node = self.nodes.get(key)
        if node is not None:
            node.visited = True

    def remove(self, key: str) -> None:
        node = self.nodes.pop(key, None)
        if node is not None:
            self._unlink(node)

    def victim(self) -> str:
        node = self.hand or self.tail
        while node is not None and node.visited:
            node.visited = False
            node = node.newer or self.tail
        if node is None:
            raise KeyError("nothing to evict")
        self.hand = node.newer
        del self.nodes[node.key]
        self._unlink(node)
        return node.key

    def _unlink(self, node: _Node) -> None:
        if self.hand is node:
            self.hand = node.newer
        if node.newer is not None:
            node.newer.older = node.older
        else:
            self.head = node.older
        if node.older is not None:
            node.older.newer = node.newer
        else:
            self.tail = node.newer


POLICIES: dict[str, type[LRUPolicy] | type[S3FIFOPolicy] | type[SievePolicy]] = {
    "lru": LRUPolicy,
    "s3fifo": S3FIFOPolicy,
    "sieve": SievePolicy,
}


def make_policy(name: str, capacity: int) -> EvictionPolicy:
    try:
        return POLICIES[name](capacity)
    except KeyError:
        raise ValueError(f"unknown eviction policy {name!r} (known: {', '.join(POLICIES)})") from None
