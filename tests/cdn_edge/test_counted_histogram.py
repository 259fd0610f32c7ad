"""CountedHistogram exposes what prometheus_client's Histogram does for the same values: same series,
same text (but `_created`, a wall-clock time)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from cdn_edge.counted_histogram import CountedHistogram

BOUNDS = (500, 1000, 2000, 4000)
VALUES = [0, 1, 499, 500, 501, 1000, 1999, 2000, 4000, 4001, 10**9, 500, 750]


def exposition(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def test_the_same_values_give_the_same_exposition_as_a_histogram() -> None:
    reference, counted = CollectorRegistry(), CollectorRegistry()
    histogram = Histogram("t_kbps", "Help.", ["node"], buckets=BOUNDS, registry=reference).labels("edge")
    buckets = CountedHistogram("t_kbps", "Help.", {"node": "edge"}, BOUNDS, registry=counted)
    assert exposition(counted) == exposition(reference)  # nothing observed yet
    for split in (VALUES[:5], VALUES[5:]):  # two flushes
        counts = [0] * (len(BOUNDS) + 1)
        for value in split:
            histogram.observe(value)
            counts[buckets.bucket(value)] += 1
        buckets.add(counts, sum(split))
    assert exposition(counted) == exposition(reference)
    names = {s.name for m in counted.collect() for s in m.samples}
    assert names == {"t_kbps_bucket", "t_kbps_count", "t_kbps_sum", "t_kbps_created"}


def test_a_second_metric_of_the_name_is_refused() -> None:
    registry = CollectorRegistry()
    CountedHistogram("t_kbps", "Help.", {"node": "edge"}, BOUNDS, registry=registry)
    with pytest.raises(ValueError, match="Duplicated"):
        Histogram("t_kbps", "Help.", ["node"], buckets=BOUNDS, registry=registry)


@pytest.mark.parametrize("bounds", [(1000, 500), (500, 500)])
def test_bounds_must_be_sorted_and_distinct(bounds: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="sorted"):
        CountedHistogram("t", "Help.", {}, bounds, registry=CollectorRegistry())


def test_counts_must_match_the_buckets() -> None:
    buckets = CountedHistogram("t", "Help.", {}, BOUNDS, registry=CollectorRegistry())
    with pytest.raises(ValueError, match="4 counts for 5 buckets"):
        buckets.add([1, 0, 0, 0], 1.0)
