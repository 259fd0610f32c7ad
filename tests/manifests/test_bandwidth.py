from __future__ import annotations

import pytest

from manifests.bandwidth import measure, round_half_up, target_duration
from manifests.model import Segment


def segs(*pairs: tuple[float, int]) -> list[Segment]:
    out, start = [], 0.0
    for i, (duration, size) in enumerate(pairs):
        out.append(Segment(uri=f"seg_{i + 1:05d}.m4s", duration=duration, size=size, start=start))
        start += duration
    return out


@pytest.mark.parametrize(
    ("segments", "target", "expected"),
    [
        # one burst segment sets the peak; the average covers everything
        (segs((2, 100_000), (2, 300_000), (2, 100_000)), 2, (1_200_000, 666_667)),
        # 1 s segments with target 2: runs of 1..3 s count, so the best pair (or triple) wins
        (segs((1, 100_000), (1, 100_000), (1, 10_000)), 2, (800_000, 560_000)),
        # a presentation shorter than half the target: single-segment maximum
        (
            segs(
                (0.5, 10_000),
            ),
            4,
            (160_000, 160_000),
        ),
        ([], 2, (0, 0)),
    ],
)
def test_measure(segments: list[Segment], target: int, expected: tuple[int, int]) -> None:
    assert measure(segments, target) == expected


@pytest.mark.parametrize(
    ("durations", "expected"),
    [((2.0, 2.0), 2), ((2.5,), 3), ((2.49, 1.0), 2), ((3.5,), 4), ((0.2,), 1), ((6.006, 4.0), 6)],
)
def test_target_duration_rounds_halves_up(durations: tuple[float, ...], expected: int) -> None:
    assert target_duration(segs(*((d, 1) for d in durations))) == expected


def test_round_half_up_differs_from_bankers() -> None:
    assert (round_half_up(2.5), round(2.5)) == (3, 2)
