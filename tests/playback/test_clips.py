"""Clip ranges from a query: refused with a readable reason, else one canonical form per range."""

from __future__ import annotations

import pytest

from playback.clips import ClipRange, parse_clip
from playback.errors import ClipInvalid


@pytest.mark.parametrize(
    ("query", "expected", "canonical"),
    [
        ({"start": "12", "end": "47"}, ClipRange(12_000, 47_000), "start=12&end=47"),
        ({"start": "12.000", "end": "47.0"}, ClipRange(12_000, 47_000), "start=12&end=47"),
        ({"start": "12.5", "end": "47.25"}, ClipRange(12_500, 47_250), "start=12.5&end=47.25"),
        ({"start": "0.0004", "end": "1"}, ClipRange(0, 1_000), "start=0&end=1"),
        ({"start": "30"}, ClipRange(30_000, None), "start=30"),
        ({"end": "10"}, ClipRange(0, 10_000), "start=0&end=10"),
        ({"start": "", "end": "10"}, ClipRange(0, 10_000), "start=0&end=10"),
        ({"start": "1e1", "end": "20"}, ClipRange(10_000, 20_000), "start=10&end=20"),
    ],
)
def test_ranges(query: dict[str, str], expected: ClipRange, canonical: str) -> None:
    clip = parse_clip(query)
    assert clip == expected
    assert clip is not None and clip.query() == canonical
    assert parse_clip(dict(p.split("=") for p in canonical.split("&"))) == clip
    assert ClipRange.from_binding(clip.binding()) == clip


def test_no_range() -> None:
    assert parse_clip({}) is None
    assert parse_clip({"token": "x"}) is None


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"start": "twelve", "end": "47"}, "not a number"),
        ({"start": "12", "end": "0x2f"}, "not a number"),
        ({"start": "nan", "end": "47"}, "finite"),
        ({"start": "0", "end": "inf"}, "finite"),
        ({"start": "-1", "end": "47"}, "0 or more"),
        ({"start": "-0.5"}, "0 or more"),
        ({"start": "47", "end": "12"}, "start before it ends"),
        ({"start": "12", "end": "12"}, "start before it ends"),
        ({"start": "12", "end": "12.05"}, "at least 0.1 s"),
        ({"start": "1e300"}, "beyond any media"),
        ({"start": "1" * 5000}, "finite"),
    ],
)
def test_refused(query: dict[str, str], reason: str) -> None:
    with pytest.raises(ClipInvalid, match=reason):
        parse_clip(query)


@pytest.mark.parametrize("binding", ["", "12", "-5", "a-b", "1.5-2", "12-x", "1-2-3"])
def test_malformed_bindings(binding: str) -> None:
    assert ClipRange.from_binding(binding) is None
