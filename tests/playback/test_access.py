"""The access classifier of the origin: catalog answers remembered for their TTL on an injected
clock, failures never remembered, a bounded number of assets remembered (least recently used go)."""

from __future__ import annotations

from collections import Counter

import pytest

from playback.access import CLASSIFIED_ASSETS, PUBLIC, SIGNED, AccessClassifier


class Catalog:
    def __init__(self, public: dict[str, bool]) -> None:
        self.public = public
        self.asked: Counter[str] = Counter()
        self.down = False

    def lookup(self, asset_id: str) -> bool | None:
        self.asked[asset_id] += 1
        if self.down:
            raise ConnectionError("catalog unreachable")
        return self.public.get(asset_id)


@pytest.mark.parametrize(("mode", "expected"), [("public", PUBLIC), ("signed", SIGNED)])
def test_fixed_modes_never_ask_the_catalog(mode: str, expected: str) -> None:
    catalog = Catalog({"a": True})
    classifier = AccessClassifier(mode, catalog.lookup)
    assert classifier.classify("a") == expected
    assert not catalog.asked


def test_catalog_answers_are_remembered_for_their_ttl() -> None:
    now = [100.0]
    catalog = Catalog({"open": True, "closed": False})
    classifier = AccessClassifier("catalog", catalog.lookup, ttl=30.0, timer=lambda: now[0])
    assert [classifier.classify(a) for a in ("open", "closed", "gone")] == [PUBLIC, SIGNED, SIGNED]
    catalog.public["closed"] = True
    now[0] += 29.0
    assert classifier.classify("closed") == SIGNED  # still the remembered answer
    assert catalog.asked == {"open": 1, "closed": 1, "gone": 1}
    now[0] += 1.0
    assert classifier.classify("closed") == PUBLIC  # expired: asked again
    assert catalog.asked["closed"] == 2


def test_a_failed_lookup_fails_closed_and_is_not_remembered() -> None:
    catalog = Catalog({"open": True})
    classifier = AccessClassifier("catalog", catalog.lookup, timer=lambda: 0.0)
    catalog.down = True
    assert classifier.classify("open") == SIGNED
    catalog.down = False
    assert classifier.classify("open") == PUBLIC
    assert catalog.asked["open"] == 2


def test_the_least_recently_used_asset_is_forgotten_first() -> None:
    catalog = Catalog({})
    classifier = AccessClassifier("catalog", catalog.lookup, timer=lambda: 0.0)
    classifier.classify("first")
    for n in range(CLASSIFIED_ASSETS - 1):
        classifier.classify(f"asset-{n}")
    classifier.classify("first")  # now the most recently used
    classifier.classify("one-too-many")
    classifier.classify("first")
    classifier.classify("asset-1")
    assert catalog.asked["first"] == catalog.asked["asset-1"] == catalog.asked["asset-0"] == 1
    classifier.classify("asset-0")  # the least recently used one was dropped
    assert catalog.asked["asset-0"] == 2
