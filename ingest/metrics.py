"""Prometheus metrics of one ingest app (own registry, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "vodstack_ingest_requests_total",
            "HTTP requests answered, by method and status.",
            ["method", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "vodstack_ingest_request_duration_seconds",
            "Time to answer an HTTP request, by method.",
            ["method"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.bytes_received = Counter(
            "vodstack_ingest_received_bytes_total",
            "Upload bytes durably stored.",
            registry=self.registry,
        )
        self.uploads = Counter(
            "vodstack_ingest_uploads_total",
            "Upload lifecycle events: created, finished, terminated, expired.",
            ["event"],
            registry=self.registry,
        )
        self.active = Gauge(
            "vodstack_ingest_active_uploads",
            "Uploads receiving data right now.",
            registry=self.registry,
        )
        for event in ("created", "finished", "terminated", "expired"):
            self.uploads.labels(event)
