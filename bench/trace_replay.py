"""Offload and eviction efficiency on Zipf request traces (the cache logic itself, no HTTP).

Catalog: 20,000 segments of 0.5 to 2.5 MB; 200,000 requests per trace with Zipf popularity
(alpha 0.6, 0.8, 1.0, 1.2). Clients are spread over 4 edges the way geography spreads them (each
request goes to a random edge, not by key), each edge holds 5% of the catalog's bytes, the shield 20%.

Prints, per alpha:
  - origin offload (requests and bytes) with edges alone and with edges + shield;
  - the byte miss ratio of each eviction policy on a single cache (5% of the catalog) next to LRU's
    and Belady's (evict the object needed furthest in the future; the offline anchor).

    /work/venv/bin/python bench/trace_replay.py [--requests 200000] [--objects 20000]
"""

from __future__ import annotations

import argparse
import heapq
import random
import time

from cdn_edge.cache import Entry, MemoryTier
from cdn_edge.eviction import POLICIES, make_policy
from cdn_edge.freshness import Freshness

MB = 1_000_000
FOREVER = Freshness(1e12)


def zipf_trace(objects: int, requests: int, alpha: float, seed: int) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    sizes = [rng.randint(MB // 2, 5 * MB // 2) for _ in range(objects)]
    weights = [1 / (rank + 1) ** alpha for rank in range(objects)]
    # Popularity rank is independent of object id and size.
    ids = list(range(objects))
    rng.shuffle(ids)
    trace = [ids[i] for i in rng.choices(range(objects), weights=weights, k=requests)]
    return sizes, trace


class Cache:
    """One node's cache: our real memory tier (policy + hard byte budget); bodies are not kept."""

    def __init__(self, policy: str, budget: int) -> None:
        self.tier = MemoryTier(budget, make_policy(policy, budget))

    def request(self, key: int, size: int) -> bool:
        k = str(key)
        if self.tier.get(k) is not None:
            return True
        self.tier.put(Entry(k, 200, (), size, 0.0, FOREVER), b"")
        return False


def byte_miss_ratio(policy: str, budget: int, sizes: list[int], trace: list[int]) -> float:
    cache = Cache(policy, budget)
    missed = sum(sizes[k] for k in trace if not cache.request(k, sizes[k]))
    return missed / sum(sizes[k] for k in trace)


def belady_byte_miss_ratio(budget: int, sizes: list[int], trace: list[int]) -> float:
    """Belady/MIN: on a miss, evict what is requested furthest in the future until the object fits."""
    never = len(trace) + 1
    next_use = [never] * len(trace)
    last: dict[int, int] = {}
    for i in range(len(trace) - 1, -1, -1):
        next_use[i] = last.get(trace[i], never)
        last[trace[i]] = i
    cached: dict[int, int] = {}  # key -> its next use
    heap: list[tuple[int, int]] = []  # (-next use, key), lazily invalidated
    used = missed = 0
    for i, key in enumerate(trace):
        size = sizes[key]
        if key in cached:
            cached[key] = next_use[i]
            heapq.heappush(heap, (-next_use[i], key))
            continue
        missed += size
        if next_use[i] == never or size > budget:
            continue  # never needed again: MIN does not store it
        while used + size > budget:
            neg, victim = heapq.heappop(heap)
            if cached.get(victim) != -neg:
                continue
            if -neg < next_use[i]:  # everything cached is needed sooner than this object: bypass it
                heapq.heappush(heap, (neg, victim))
                break
            del cached[victim]
            used -= sizes[victim]
        else:
            cached[key] = next_use[i]
            used += size
            heapq.heappush(heap, (-next_use[i], key))
    return missed / sum(sizes[k] for k in trace)


def offload(
    sizes: list[int], trace: list[int], policy: str, edges: int, with_shield: bool, seed: int
) -> tuple[float, float]:
    catalog = sum(sizes)
    nodes = [Cache(policy, catalog * 5 // 100) for _ in range(edges)]
    shield = Cache(policy, catalog * 20 // 100)
    rng = random.Random(seed)
    origin_requests = origin_bytes = total_bytes = 0
    for key in trace:
        size = sizes[key]
        total_bytes += size
        if nodes[rng.randrange(edges)].request(key, size):
            continue
        if with_shield and shield.request(key, size):
            continue
        origin_requests += 1
        origin_bytes += size
    return 1 - origin_requests / len(trace), 1 - origin_bytes / total_bytes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--objects", type=int, default=20_000)
    parser.add_argument("--alphas", default="0.6,0.8,1.0,1.2")
    args = parser.parse_args()
    started = time.time()
    print(f"{args.objects} objects of 0.5-2.5 MB, {args.requests} requests; edges 5% of catalog bytes, shield 20%\n")
    print("origin offload, requests / bytes (4 edges, clients spread by geography, policy s3fifo)")
    print(f"{'alpha':>5}  {'edges only':>21}  {'edges + shield':>21}  {'origin bytes ratio':>18}")
    traces = {}
    for alpha in (float(a) for a in args.alphas.split(",")):
        sizes, trace = zipf_trace(args.objects, args.requests, alpha, seed=int(alpha * 100))
        traces[alpha] = (sizes, trace)
        req0, byte0 = offload(sizes, trace, "s3fifo", 4, False, 1)
        req1, byte1 = offload(sizes, trace, "s3fifo", 4, True, 1)
        print(
            f"{alpha:>5}  {req0:>9.1%} / {byte0:>9.1%}  {req1:>9.1%} / {byte1:>9.1%}  "
            f"{(1 - byte1) / (1 - byte0):>17.2f}x"
        )
    print("\nbyte miss ratio, single cache of 5% of catalog bytes (lower is better; ratio to LRU)")
    names = list(POLICIES)
    print(f"{'alpha':>5}  " + "  ".join(f"{n:>16}" for n in names) + f"  {'belady':>16}")
    for alpha, (sizes, trace) in traces.items():
        budget = sum(sizes) * 5 // 100
        results = {n: byte_miss_ratio(n, budget, sizes, trace) for n in names}
        results["belady"] = belady_byte_miss_ratio(budget, sizes, trace)
        lru = results["lru"]
        print(f"{alpha:>5}  " + "  ".join(f"{v:>7.3f} ({v / lru:>5.2f}x)" for v in results.values()))
    print(f"\n({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
