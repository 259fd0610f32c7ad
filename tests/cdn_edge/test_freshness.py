from __future__ import annotations

import pytest

from cdn_edge.freshness import Freshness, Usability, freshness_of, usability


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (200, {"cache-control": "public, max-age=60, stale-while-revalidate=30, stale-if-error=600"},
         Freshness(60, 30, 600)),
        (200, {"cache-control": "public, max-age=31536000, immutable"}, Freshness(31536000)),
        (200, {"cache-control": "max-age=60, s-maxage=5"}, Freshness(5)),
        (200, {"cache-control": "no-store"}, Freshness(0, storable=False)),
        (200, {"cache-control": "private, max-age=60"}, Freshness(0, storable=False)),
        (200, {"cache-control": "no-cache"}, Freshness(0)),
        (404, {"cache-control": "public, max-age=60"}, Freshness(2)),
        (404, {"cache-control": "public, max-age=1"}, Freshness(1)),
        (503, {"retry-after": "30", "cache-control": "no-store"}, Freshness(1)),
        (503, {}, Freshness(0, storable=False)),
        (500, {"cache-control": "max-age=60"}, Freshness(0, storable=False)),
    ],
)  # fmt: skip
def test_freshness_of(status: int, headers: dict[str, str], expected: Freshness) -> None:
    assert freshness_of(status, headers, negative_ttl=2, unavailable_ttl=1) == expected


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (0, Usability.FRESH),
        (59.9, Usability.FRESH),
        (60, Usability.STALE_REVALIDATE),
        (89, Usability.STALE_REVALIDATE),
        (90, Usability.STALE_IF_ERROR),
        (659, Usability.STALE_IF_ERROR),
        (660, Usability.EXPIRED),
    ],
)
def test_usability(age: float, expected: Usability) -> None:
    assert usability(Freshness(60, 30, 600), age) == expected
