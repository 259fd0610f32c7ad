"""bench/rate_quality.py: the comparisons bench/ladder.py prints, on hand-made ladders."""

from __future__ import annotations

import pytest

from bench import rate_quality
from bench.rate_quality import RungResult, SourceOutcome


def rungs(*points: tuple[int, float]) -> list[RungResult]:
    return [RungResult(f"r{i}", 720, bits, vmaf) for i, (bits, vmaf) in enumerate(points)]


ANCHOR = rungs((1000, 80.0), (4000, 90.0), (8000, 95.0))


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        (ANCHOR, 0.0),
        (rungs((500, 80.0), (2000, 90.0), (4000, 95.0)), -50.0),  # half the bits at every VMAF
        (rungs((2000, 80.0), (8000, 90.0)), 100.0),  # twice the bits, over 80-90 only
    ],
)
def test_bd_rate_over_the_common_range(test: list[RungResult], expected: float) -> None:
    assert rate_quality.bd_rate(ANCHOR, test) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    "test",
    [
        rungs((1000, 92.0)),  # one rung: a point, not a range
        rungs((1000, 95.0), (2000, 99.0)),  # meets the anchor at its top only
        rungs((100, 60.0), (200, 79.9)),  # below the anchor's range
    ],
)
def test_bd_rate_needs_a_common_range(test: list[RungResult]) -> None:
    assert rate_quality.bd_rate(ANCHOR, test) is None


@pytest.mark.parametrize(
    ("test", "percent", "vmafs"),
    [
        # Halfway between 80 (1000) and 90 (4000) in VMAF is 2000 bits/s in log(rate).
        (rungs((1000, 85.0)), -50.0, (85.0,)),
        (rungs((2000, 85.0)), 0.0, (85.0,)),
        (rungs((500, 80.0)), -50.0, (80.0,)),  # on the anchor's lowest rung: inside, ends included
        (rungs((16000, 95.0)), 100.0, (95.0,)),  # on its highest
        # Geometric mean of -50 % and +100 %; the rung above the anchor's range is left out.
        (rungs((1000, 85.0), (16000, 95.0), (1000, 99.0)), 0.0, (85.0, 95.0)),
    ],
)
def test_rate_at_anchor_reads_the_anchor_at_each_rung(
    test: list[RungResult], percent: float, vmafs: tuple[float, ...]
) -> None:
    at = rate_quality.rate_at_anchor(ANCHOR, test)
    assert at is not None
    assert at.percent == pytest.approx(percent, abs=1e-9)
    assert at.vmafs == vmafs


def test_rate_at_anchor_of_a_static_source_ladder() -> None:
    # The easy source's shape, rates out of VMAF order (x264 under every target on a static picture):
    # every fixed rung ~150 kbit/s whatever its size, VMAF 44-97; one fitted rung.
    fixed = rungs((150_000, 44.0), (158_000, 91.0), (155_000, 97.0))
    at = rate_quality.rate_at_anchor(fixed, rungs((153_000, 95.0)))
    assert at is not None
    # 95 is 2/3 of the way from 91 (158k) to 97 (155k) in log(rate): 158k * (155/158)^(2/3).
    assert at.percent == pytest.approx((153 / (158 * (155 / 158) ** (2 / 3)) - 1) * 100, abs=1e-9)


@pytest.mark.parametrize(
    "test",
    [
        rungs((1000, 99.0)),  # above the anchor's best: its rate there is unknown, not extrapolated
        rungs((100, 70.0), (200, 79.99)),  # below its lowest
    ],
)
def test_rate_at_anchor_is_none_outside_the_anchor(test: list[RungResult]) -> None:
    assert rate_quality.rate_at_anchor(ANCHOR, test) is None


@pytest.mark.parametrize(
    ("test", "printed"),
    [
        (rungs((1000, 85.0)), ": -50.0 % at VMAF 85.00"),
        (rungs((1000, 85.0), (16000, 95.0)), ": +0.0 % at VMAF 85.00, 95.00"),
        (rungs((1000, 99.0)), ": n/a (no content-aware rung inside the fixed ladder's VMAF range)"),
    ],
)
def test_point_line_says_what_it_measured(test: list[RungResult], printed: str) -> None:
    line = rate_quality.point_line(ANCHOR, test)
    assert line.startswith("bits at the content-aware rungs' own VMAF vs the fixed ladder's there")
    assert line.endswith(printed)


def test_set_summary_means_the_bd_rates_it_has_and_sums_cpu() -> None:
    summary = rate_quality.summarise_set(
        [
            SourceOutcome("easy", None, 54.9, 43.6, 1.53),
            SourceOutcome("trailer", -29.2, 71.7, 47.7, 0.84),
            SourceOutcome("hard", -10.9, 102.0, 121.1, 0.10),
            SourceOutcome("bbb", -20.0, 100.0, 80.0, 1.0),  # at the source's bit rate: not above it
        ]
    )
    assert summary.mean_bd_rate == pytest.approx((-29.2 - 10.9 - 20.0) / 3)
    assert summary.with_bd_rate == ("trailer", "hard", "bbb")
    assert summary.without_bd_rate == ("easy",)
    assert (summary.cpu_fixed, summary.cpu_content_aware) == pytest.approx((328.6, 292.4))
    assert summary.cpu_ratio == pytest.approx(292.4 / 328.6)
    assert summary.above_source == ("easy",)


def test_set_summary_without_any_bd_rate() -> None:
    summary = rate_quality.summarise_set([SourceOutcome("easy", None, 10.0, 5.0, 0.5)])
    assert summary.mean_bd_rate is None
    assert (summary.with_bd_rate, summary.without_bd_rate, summary.above_source) == ((), ("easy",), ())


def test_set_summary_does_not_guess_an_unmeasured_top_rung() -> None:
    # Video against video: a source kept without its video bit rates is neither above nor under its source.
    summary = rate_quality.summarise_set(
        [SourceOutcome("hard", -11.0, 102.0, 121.1, None), SourceOutcome("easy", None, 77.2, 82.3, 1.09)]
    )
    assert summary.above_source == ("easy",)
    assert summary.above_source_unknown == ("hard",)
