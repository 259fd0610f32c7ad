"""Metrics of one cache node, in a registry per app. Labels are bounded: node, cache status, status
class, tier, fetch outcome; never a URL or an asset.

Every counter's label set is created at 0 when the node starts, so `rate()` and ratios see a series
from the first scrape (a node that never collapsed a request shows 0, not "no data").

Per node, the byte hit ratio is served bytes with cache_status hit|stale over all served bytes, and
the node's offload is 1 - upstream received bytes / served bytes (a collapsed request costs nothing
upstream, a range miss may cost a whole object).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# hit: fresh from the cache; stale: served stale (while revalidating, or because the upstream failed);
# miss: this request led the upstream fetch; collapsed: joined a fetch already in flight; error: the
# request was answered by an error handler (bad key, upstream down with nothing stale to serve).
CACHE_STATUSES = ("hit", "stale", "miss", "collapsed", "error")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
FETCH_OUTCOMES = ("fetched", "revalidated", "error")
FILL_STATES = ("running", "waiting")


def status_class(status: int) -> str:
    """The `code` label of a response status: its class, so the label stays bounded."""
    return f"{min(max(status // 100, 1), 5)}xx"


class EdgeMetrics:
    def __init__(self, node: str, tiers: tuple[str, ...] = ("memory",)) -> None:
        self.node = node
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "vodstack_edge_requests",
            "Requests answered, by cache status (hit, stale, miss, collapsed, error) and status class.",
            ["node", "cache_status", "code"],
            registry=r,
        )
        self.bytes_served = Counter(
            "vodstack_edge_served_bytes",
            "Body bytes sent to clients, by cache status of the request.",
            ["node", "cache_status"],
            registry=r,
        )
        self.upstream_bytes = Counter(
            "vodstack_edge_upstream_received_bytes",
            "Body bytes received from the upstream (the shield for an edge, the origin for the shield).",
            ["node"],
            registry=r,
        )
        self.upstream_fetches = Counter(
            "vodstack_edge_upstream_fetches",
            "Requests sent upstream, by outcome.",
            ["node", "outcome"],
            registry=r,
        )
        self.collapsed = Counter(
            "vodstack_edge_collapsed_requests",
            "Requests that joined a fetch already in flight.",
            ["node"],
            registry=r,
        )
        self.evictions = Counter("vodstack_edge_evictions", "Objects evicted, by tier.", ["node", "tier"], registry=r)
        self.cache_bytes = Gauge("vodstack_edge_cache_bytes", "Bytes stored, by tier.", ["node", "tier"], registry=r)
        self.cache_budget = Gauge(
            "vodstack_edge_cache_budget_bytes", "Byte budget, by tier.", ["node", "tier"], registry=r
        )
        self.cache_objects = Gauge(
            "vodstack_edge_cache_objects", "Objects stored, by tier.", ["node", "tier"], registry=r
        )
        self.ttfb = Histogram(
            "vodstack_edge_time_to_first_byte_seconds",
            "Time from request to response head, by cache status.",
            ["node", "cache_status"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.breaker_open = Gauge(
            "vodstack_edge_upstream_circuit_open",
            "1 while the upstream circuit breaker is open.",
            ["node"],
            registry=r,
        )
        self.purged = Counter("vodstack_edge_purged_objects", "Objects removed by the purge API.", ["node"], registry=r)
        self.fills = Gauge(
            "vodstack_edge_fills",
            "Upstream fetches filling the cache: running, or waiting for a slot (max_concurrent_fills).",
            ["node", "state"],
            registry=r,
        )
        self._initialise(tiers)

    def _initialise(self, tiers: tuple[str, ...]) -> None:
        node = self.node
        for cache_status in CACHE_STATUSES:
            self.bytes_served.labels(node, cache_status)
            for code in STATUS_CLASSES:
                self.requests.labels(node, cache_status, code)
        for outcome in FETCH_OUTCOMES:
            self.upstream_fetches.labels(node, outcome)
        for tier in tiers:
            self.evictions.labels(node, tier)
        self.upstream_bytes.labels(node)
        self.collapsed.labels(node)
        self.purged.labels(node)
        self.breaker_open.labels(node)
        for state in FILL_STATES:
            self.fills.labels(node, state)

    def answered(self, cache_status: str, status: int) -> None:
        self.requests.labels(self.node, cache_status, status_class(status)).inc()
