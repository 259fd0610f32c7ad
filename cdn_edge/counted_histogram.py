"""A Prometheus histogram of one label set that is fed whole bucket counts, not observations.

prometheus_client's Histogram takes one value per observe() (about 9,400 instructions each,
callgrind: bench/edge_protocol_cpu.py --cmcd --instructions) and has no public call that adds N to a
bucket. A tracker that counts its samples into buckets on the hit path (a bisect) hands them over
here at the scrape in O(buckets); this collector exposes them with prometheus_client's public
collector API (a Collector yielding a HistogramMetricFamily), in the same series a Histogram of the
same name, help, label and bounds would: `_bucket{le}` (cumulative), `_count`, `_sum`, `_created`.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence

from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString


class CountedHistogram(Collector):
    """One histogram series set (`labels`, in order) with the upper bounds `bounds` (finite, sorted; +Inf
    is added). add() takes counts per bucket, not cumulative: counts[i] values v with
    bounds[i - 1] < v <= bounds[i] (what Histogram.observe counts), the last one those past every bound."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labels: dict[str, str],
        bounds: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        if list(bounds) != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise ValueError(f"bounds must be sorted and distinct: {bounds}")
        self.name = name
        self.documentation = documentation
        self.labels = dict(labels)
        self.label_names = list(labels)
        self.label_values = list(labels.values())
        self.bounds = tuple(float(bound) for bound in bounds)
        self._le = [floatToGoString(bound) for bound in (*self.bounds, float("inf"))]
        self._counts = [0] * (len(self.bounds) + 1)
        self._sum = 0.0
        self._created = time.time()
        # collect() may run on a scrape thread (prometheus_client's own server): count, buckets and sum
        # are read together.
        self._lock = threading.Lock()
        registry.register(self)

    def bucket(self, value: float) -> int:
        """The index into add()'s counts of the bucket `value` falls in (le: the first bound >= value)."""
        return bisect_left(self.bounds, value)

    def add(self, counts: Sequence[int], total: float) -> None:
        """Add `counts` (one per bucket, len(bounds) + 1) of values that sum to `total`."""
        if len(counts) != len(self._counts):
            raise ValueError(f"{len(counts)} counts for {len(self._counts)} buckets")
        with self._lock:
            for i, count in enumerate(counts):
                self._counts[i] += count
            self._sum += total

    def describe(self) -> Iterable[HistogramMetricFamily]:
        # The registry learns the names without a collect() (and refuses a second metric of this name).
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.label_names)

    def collect(self) -> Iterable[HistogramMetricFamily]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.label_names)
        cumulative, buckets = 0, []
        for le, count in zip(self._le, counts, strict=True):
            cumulative += count
            buckets.append((le, float(cumulative)))
        family.add_metric(self.label_values, buckets, total)
        family.add_sample(self.name + "_created", self.labels, self._created)
        yield family
