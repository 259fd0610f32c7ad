"""Origin metrics, in a registry per app (several apps share one process in tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class OriginMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "vodstack_origin_requests",
            "Requests answered, by object kind and status code.",
            ["kind", "code"],
            registry=self.registry,
        )
        self.bytes_served = Counter(
            "vodstack_origin_served_bytes",
            "Body bytes sent, by object kind.",
            ["kind"],
            registry=self.registry,
        )
        self.storage_seconds = Histogram(
            "vodstack_origin_storage_seconds",
            "Time to stat (and for playlists read) an object in the store.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.image_seconds = Histogram(
            "vodstack_origin_image_seconds",
            "Time to make an image on demand (read the segments, run ffmpeg), successful or not.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20),
            registry=self.registry,
        )
