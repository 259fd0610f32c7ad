"""Rate-quality comparisons of two ladders (bench/ladder.py, bench/av1.py): pure math over measured rungs.

- `bd_rate`: the Bjøntegaard-style rate difference over the VMAF range both ladders cover.
- `rate_at_anchor`: the same difference read only at the test ladder's own rungs, for a ladder whose
  rungs span too little VMAF for a range (one rung): the anchor's rate interpolated at each rung's VMAF.
- `summarise_set`: the figures the issue judges over a set of sources.

The rate-quality curves use each rung's `bitrate` (what a player pays, audio included); "no rung above the
source" uses the video alone, against the source's video (`video_bitrate`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Narrower than this, a common VMAF range is one point in disguise: bd_rate declines it.
MIN_COMMON_VMAF = 0.5


@dataclass(frozen=True)
class RungResult:
    name: str
    height: int
    bitrate: int  # AVERAGE-BANDWIDTH of the variant: its video and the audio it carries (what a player pays)
    vmaf: float
    # The rendition's video packets over the source's duration, the measure "no rung above the source" compares
    # with the source's video; None when not measured (results kept before it was recorded, package gone).
    video_bitrate: int | None = None


Curve = list[tuple[float, float]]  # (VMAF, log(bits/s)), VMAF strictly increasing


def _curve(points: Sequence[RungResult]) -> Curve:
    kept: Curve = []
    for p in sorted(points, key=lambda r: r.vmaf):
        if not kept or p.vmaf > kept[-1][0]:
            kept.append((p.vmaf, math.log(p.bitrate)))
    return kept


def _log_rate(c: Curve, q: float) -> float:
    """log(bits/s) of the curve at VMAF `q`, piecewise-linear; flat beyond its ends (callers stay inside)."""
    for (q0, r0), (q1, r1) in zip(c, c[1:], strict=False):
        if q0 <= q <= q1:
            return r0 + (r1 - r0) * (q - q0) / (q1 - q0)
    return c[0][1] if q <= c[0][0] else c[-1][1]


def bd_rate(anchor: Sequence[RungResult], test: Sequence[RungResult]) -> float | None:
    """Average bit rate difference of `test` against `anchor` at equal VMAF, in percent: both
    rate-quality curves piecewise-linear in log(rate), averaged over the VMAF range both cover
    (None when that range is narrower than MIN_COMMON_VMAF)."""
    a, t = _curve(anchor), _curve(test)
    low, high = max(a[0][0], t[0][0]), min(a[-1][0], t[-1][0])
    if high - low < MIN_COMMON_VMAF:
        return None
    steps = 200
    diff = sum(
        _log_rate(t, low + (high - low) * i / steps) - _log_rate(a, low + (high - low) * i / steps)
        for i in range(steps + 1)
    ) / (steps + 1)
    return (math.exp(diff) - 1) * 100


@dataclass(frozen=True)
class PointComparison:
    """`test`'s rungs against the anchor's curve at their own VMAF: `percent` is their bits over the
    anchor's interpolated bits (geometric mean over `vmafs`), negative = fewer bits at equal VMAF."""

    percent: float
    vmafs: tuple[float, ...]  # the test rungs' VMAF scores it was read at


def rate_at_anchor(anchor: Sequence[RungResult], test: Sequence[RungResult]) -> PointComparison | None:
    """`test`'s rungs whose VMAF lies inside the anchor's measured range (ends included), each against
    the anchor's rate there (its curve as bd_rate draws it, nothing extrapolated): None when no rung of
    `test` lies inside. With one rung this is a BD-rate at one point: it says what the ladder costs at
    the one quality it offers, nothing about the qualities it does not."""
    a = _curve(anchor)
    inside = sorted((r for r in test if a[0][0] <= r.vmaf <= a[-1][0]), key=lambda r: r.vmaf)
    if not inside:
        return None
    diff = sum(math.log(r.bitrate) - _log_rate(a, r.vmaf) for r in inside) / len(inside)
    return PointComparison((math.exp(diff) - 1) * 100, tuple(r.vmaf for r in inside))


def point_line(anchor: Sequence[RungResult], test: Sequence[RungResult]) -> str:
    """rate_at_anchor as bench/ladder.py prints it, saying what it is (and n/a when it has no point)."""
    at = rate_at_anchor(anchor, test)
    label = "bits at the content-aware rungs' own VMAF vs the fixed ladder's there (interpolated, not extrapolated)"
    if at is None:
        return f"{label}: n/a (no content-aware rung inside the fixed ladder's VMAF range)"
    return f"{label}: {at.percent:+.1f} % at VMAF {', '.join(f'{q:.2f}' for q in at.vmafs)}"


@dataclass(frozen=True)
class SourceOutcome:
    """One source's result, as the set summary weighs it."""

    name: str
    bd_rate: float | None
    cpu_fixed: float
    cpu_content_aware: float
    # The content-aware ladder's highest rung's video over the source's video (video against video: every
    # variant's audio is re-encoded at 128 kbit/s whatever the source's spends); None when either is unknown.
    top_over_source: float | None
    at_rungs: float | None = None  # rate_at_anchor's percent, for the table


@dataclass(frozen=True)
class SetSummary:
    mean_bd_rate: float | None  # over the sources that have one
    with_bd_rate: tuple[str, ...]
    without_bd_rate: tuple[str, ...]
    cpu_fixed: float
    cpu_content_aware: float
    above_source: tuple[str, ...]  # sources whose content-aware top rung's video spends more than theirs
    above_source_unknown: tuple[str, ...] = ()  # sources whose top_over_source was not measured

    @property
    def cpu_ratio(self) -> float:
        return self.cpu_content_aware / self.cpu_fixed


def summarise_set(outcomes: Sequence[SourceOutcome]) -> SetSummary:
    rated = [o for o in outcomes if o.bd_rate is not None]
    return SetSummary(
        mean_bd_rate=sum(o.bd_rate for o in rated if o.bd_rate is not None) / len(rated) if rated else None,
        with_bd_rate=tuple(o.name for o in rated),
        without_bd_rate=tuple(o.name for o in outcomes if o.bd_rate is None),
        cpu_fixed=sum(o.cpu_fixed for o in outcomes),
        cpu_content_aware=sum(o.cpu_content_aware for o in outcomes),
        above_source=tuple(o.name for o in outcomes if o.top_over_source is not None and o.top_over_source > 1),
        above_source_unknown=tuple(o.name for o in outcomes if o.top_over_source is None),
    )
