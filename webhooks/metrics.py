"""Webhook metrics, written by whichever worker sends (multiprocess-safe like transcoder/metrics.py).

vodstack_webhook_deliveries_total{outcome}   outcome: delivered|retrying|failed (one per attempt)
vodstack_webhook_outbox_lag_seconds          age of the oldest undelivered event, after each sweep
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge

OUTCOMES = ("delivered", "retrying", "failed")


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.deliveries = Counter(
            "vodstack_webhook_deliveries",
            "Webhook delivery attempts by outcome (delivered, retrying: failed and due again, failed: given up).",
            ["outcome"],
            registry=registry,
        )
        self.lag = Gauge(
            "vodstack_webhook_outbox_lag_seconds",
            "Age of the oldest event not yet delivered (0 when none is waiting).",
            multiprocess_mode="mostrecent",
            registry=registry,
        )
        for outcome in OUTCOMES:
            self.deliveries.labels(outcome)


_metrics: WebhookMetrics | None = None
_lock = threading.Lock()


def webhook_metrics() -> WebhookMetrics:
    """This process's metrics in the default registry, created on first use (after the pool forks)."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = WebhookMetrics()
        return _metrics
