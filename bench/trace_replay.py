"""Offload and eviction efficiency on Zipf request traces (the cache logic itself, no HTTP).

Catalog: 20,000 segments of 0.5 to 2.5 MB; 200,000 requests per trace with Zipf popularity
(alpha 0.6, 0.8, 1.0, 1.2). Clients are spread over 4 edges the way geography spreads them (each
request goes to a random edge, not by key), each edge holds 5% of the catalog's bytes, the shield 20%.

Prints, per alpha:
  - origin offload (requests and bytes) with edges alone and with edges + shield;
  - origin bytes with a shield over edges alone, for each shield policy (S3-FIFO edges), next to
    references on the same stream of edge misses: a static oracle (the shield holds the objects the
    edges miss most often, known in advance; each still fetched once), perfect LFU (exact counts over
    the whole history, what frequency-based admission such as TinyLFU approximates), Belady (knows the
    future), and the floor of first requests (every object's first request reaches the origin);
  - with --warmup N, the same ratio for S3-FIFO over the requests that follow N uncounted ones;
  - the byte miss ratio of each eviction policy on a single cache (5% of the catalog) next to LRU's
    and Belady's (evict the object needed furthest in the future; the offline anchor).

    /work/venv/bin/python bench/trace_replay.py [--requests 200000] [--objects 20000] [--warmup 400000]
"""

from __future__ import annotations

import argparse
import heapq
import random
import time
from collections import Counter

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


def edge_misses(sizes: list[int], trace: list[int], policy: str, edges: int, seed: int) -> list[int]:
    """The requests the edges send upstream, in order: what the shield sees. Each client request goes
    to a random edge (geography, not key), so every edge sees the whole catalog's popularity."""
    nodes = [Cache(policy, sum(sizes) * 5 // 100) for _ in range(edges)]
    rng = random.Random(seed)
    return [key for key in trace if not nodes[rng.randrange(edges)].request(key, sizes[key])]


def shield_misses(sizes: list[int], stream: list[int], policy: str) -> list[int]:
    shield = Cache(policy, sum(sizes) * 20 // 100)
    return [key for key in stream if not shield.request(key, sizes[key])]


def offload(sizes: list[int], trace: list[int], origin: list[int]) -> tuple[float, float]:
    """Offload in requests and bytes when `origin` is the part of `trace` that reached the origin."""
    return 1 - len(origin) / len(trace), 1 - sum(sizes[k] for k in origin) / sum(sizes[k] for k in trace)


def warm_origin_bytes(sizes: list[int], trace: list[int], warmup: int, with_shield: bool) -> int:
    """Origin bytes of the requests after the first `warmup` (caches filled by those, not counted)."""
    nodes = [Cache("s3fifo", sum(sizes) * 5 // 100) for _ in range(4)]
    shield = Cache("s3fifo", sum(sizes) * 20 // 100)
    rng = random.Random(1)
    origin = 0
    for i, key in enumerate(trace):
        if nodes[rng.randrange(4)].request(key, sizes[key]) or (with_shield and shield.request(key, sizes[key])):
            continue
        origin += sizes[key] if i >= warmup else 0
    return origin


def static_oracle_bytes(budget: int, sizes: list[int], stream: list[int]) -> int:
    """Bytes missed by a cache holding, from the start, the objects requested most in `stream` (by count:
    for bytes, an object's value per byte stored is its request count). Each is still fetched once."""
    kept: set[int] = set()
    used = 0
    for key, _ in Counter(stream).most_common():
        if used + sizes[key] <= budget:
            kept.add(key)
            used += sizes[key]
    return sum(sizes[k] for k in stream if k not in kept) + sum(sizes[k] for k in kept)


def perfect_lfu_bytes(budget: int, sizes: list[int], stream: list[int]) -> int:
    """Bytes missed by LFU with exact counts over the whole history (in cache or not): a missed object
    replaces the least counted ones only if all of them are counted less than it."""
    counts: Counter[int] = Counter()
    cached: dict[int, int] = {}  # key -> its count when last pushed
    heap: list[tuple[int, int]] = []  # (count, key), lazily invalidated
    used = missed = 0
    for key in stream:
        counts[key] += 1
        count, size = counts[key], sizes[key]
        if key in cached:
            cached[key] = count
            heapq.heappush(heap, (count, key))
            continue
        missed += size
        victims: list[tuple[int, int]] = []
        freed = 0
        while used - freed + size > budget:
            while heap and cached.get(heap[0][1]) != heap[0][0]:
                heapq.heappop(heap)
            if not heap or heap[0][0] >= count:
                break
            victims.append(heapq.heappop(heap))
            freed += sizes[victims[-1][1]]
        if used - freed + size > budget:
            for victim in victims:
                heapq.heappush(heap, victim)
            continue
        for _, evicted in victims:
            del cached[evicted]
        used += size - freed
        cached[key] = count
        heapq.heappush(heap, (count, key))
    return missed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--objects", type=int, default=20_000)
    parser.add_argument("--alphas", default="0.6,0.8,1.0,1.2")
    # A diagnostic, not the target's trace: how much of the gap is caches starting cold.
    parser.add_argument("--warmup", type=int, default=0, help="also report origin bytes after N warm-up requests")
    args = parser.parse_args()
    started = time.time()
    print(f"{args.objects} objects of 0.5-2.5 MB, {args.requests} requests; edges 5% of catalog bytes, shield 20%\n")
    print("origin offload, requests / bytes (4 edges, clients spread by geography, policy s3fifo)")
    print(f"{'alpha':>5}  {'edges only':>21}  {'edges + shield':>21}  {'origin bytes ratio':>18}")
    traces = {}
    streams = {}
    for alpha in (float(a) for a in args.alphas.split(",")):
        sizes, trace = zipf_trace(args.objects, args.requests, alpha, seed=int(alpha * 100))
        traces[alpha] = (sizes, trace)
        streams[alpha] = stream = edge_misses(sizes, trace, "s3fifo", 4, seed=1)
        req0, byte0 = offload(sizes, trace, stream)
        req1, byte1 = offload(sizes, trace, shield_misses(sizes, stream, "s3fifo"))
        print(
            f"{alpha:>5}  {req0:>9.1%} / {byte0:>9.1%}  {req1:>9.1%} / {byte1:>9.1%}  "
            f"{(1 - byte1) / (1 - byte0):>17.2f}x"
        )
    print("\norigin bytes with a shield of 20% / edges alone, by shield policy (edges s3fifo), and bounds")
    bounds = ["static oracle", "perfect lfu", "belady", "first requests"]
    print(f"{'alpha':>5}  " + "  ".join(f"{n:>14}" for n in [*POLICIES, *bounds]))
    for alpha, stream in streams.items():
        sizes = traces[alpha][0]
        budget = sum(sizes) * 20 // 100
        alone = sum(sizes[k] for k in stream)
        with_shield = [sum(sizes[k] for k in shield_misses(sizes, stream, policy)) for policy in POLICIES]
        with_shield.append(static_oracle_bytes(budget, sizes, stream))
        with_shield.append(perfect_lfu_bytes(budget, sizes, stream))
        with_shield.append(round(belady_byte_miss_ratio(budget, sizes, stream) * alone))
        with_shield.append(sum(sizes[k] for k in set(traces[alpha][1])))
        print(f"{alpha:>5}  " + "  ".join(f"{b / alone:>13.2f}x" for b in with_shield))
    if args.warmup:
        print(
            f"\nwarm caches: origin bytes with a shield / edges alone over {args.requests} requests after {args.warmup}"
        )
        for alpha in traces:
            sizes, trace = zipf_trace(args.objects, args.warmup + args.requests, alpha, seed=int(alpha * 100))
            alone, shielded = (warm_origin_bytes(sizes, trace, args.warmup, w) for w in (False, True))
            print(f"{alpha:>5}  {shielded / alone:>13.2f}x")
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
