"""Metrics of one cache node, in a registry per app. Labels are bounded: node, cache status, tier,
never a URL or an asset."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class EdgeMetrics:
    def __init__(self, node: str) -> None:
        self.node = node
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "vodstack_edge_requests",
            "Requests by cache status (hit, stale, miss, collapsed, error).",
            ["node", "cache_status"],
            registry=r,
        )
        self.bytes_served = Counter("vodstack_edge_served_bytes", "Body bytes sent to clients.", ["node"], registry=r)
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
