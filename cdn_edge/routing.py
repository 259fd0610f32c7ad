"""Which edge serves a key: rendezvous (highest-random-weight) hashing. Pure and deterministic, so a
load balancer, a player SDK or another node computes the same answer with a few lines of code:

    owner = max(nodes, key=lambda n: sha256(f"{n}\\n{key}").digest()[:8] as a big-endian integer)

Adding an edge moves only the keys the new edge now wins, about 1/N of them; removing one moves only
its own keys. No ring, no virtual nodes to tune, and weights are not needed for identical edges.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def score(node: str, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{node}\n{key}".encode()).digest()[:8], "big")


def rank(key: str, nodes: Sequence[str]) -> list[str]:
    """Nodes in preference order for `key` (fall back down the list when the first is unhealthy)."""
    return sorted(nodes, key=lambda node: score(node, key), reverse=True)


def owner(key: str, nodes: Sequence[str]) -> str:
    if not nodes:
        raise ValueError("no nodes to route to")
    return max(nodes, key=lambda node: score(node, key))
