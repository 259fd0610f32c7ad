"""Content-aware ladder: rungs chosen from measured rate-quality points of the source. Pure; table-tested.

The analysis (transcoder/encode/analysis.py) encodes short samples of the source at several
resolutions and CRFs and measures what each spends (bits/s) and what it looks like (VMAF against
the source shown at its display size). Here those points become a ladder:

1. Per resolution, the rate-quality curve: its points in bit rate order, each better than the one
   before (a point that costs more for no more quality is dropped), read piecewise-linearly in
   log(bit rate), the axis on which VMAF grows almost linearly.
2. The hull: for a quality, the cheapest resolution that reaches it. Where a smaller picture
   upscaled looks as good for fewer bits (soft or static content), it wins; detailed content
   makes the larger pictures cheaper at high quality. This is the lower envelope of the curves,
   the per-title convex hull of Netflix's per-title encoding.
3. Rungs at the target qualities (e.g. VMAF 95 / 93 / 88 / 80 / 70), from the top down, each at
   most as large as the one above, at least `min_step` times cheaper than it counting the audio its
   variant carries (what a player's bandwidth estimate is compared with: neighbours closer than that
   buy players nothing and cost an encode), none above what the source's video itself spends or
   the Apple spec's rate for its size (with a margin: `max_bitrate`) on average, its peak within a
   margin above the source's (`HullPolicy.source_margin`), and none below a rung that is
   already as cheap as the slowest networks need (`floor_bitrate`). A step the hull reaches only
   above those bounds is dropped, not chased: the top rung is then the best quality within them.
4. Gaps: where neighbouring rungs are more than `max_gap` apart (audio counted), a rung at their
   geometric middle, on the size the hull gives there (the best VMAF at that rate, no larger than the
   rung above nor smaller than the one below), still `min_step` from both and within the bounds; at
   most `max_fill` of them, the widest gaps first. The VMAF steps alone left the grainy source's 540p
   and 720p rungs 4.3x apart: a player between them fell to the lower one.

Content that is easy gets few rungs: its lower targets collapse onto its cheapest point, and its
rungs reach the floor after a step or two.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

# What a rung may spend, by short side: the Apple HLS authoring spec's highest bit rate at that size
# (bits per pixel of the nearest size for others) times APPLE_MARGIN. A step the hull reaches only above
# that is dropped, not chased: the grainy source's 720p top rung spent 9.3 Mbit/s (twice Apple's
# 720p top, the bound before) for VMAF 88 where Apple's 4.5 Mbit/s gave 86, and cost the ladder more CPU
# than the fixed ladder's whole encode saved. The margin is room for a hard source above Apple's
# authoring average, which assumes typical content.
_APPLE_TOP_BY_SHORT: dict[int, int] = {
    234: 145_000,
    360: 365_000,
    432: 1_100_000,
    540: 2_000_000,
    720: 4_500_000,
    1080: 7_800_000,
}
APPLE_MARGIN = 1.25


@dataclass(frozen=True)
class Measurement:
    """One sample encode: a resolution (by its short side), the CRF, what it spent, how it looked."""

    short: int
    crf: float
    bitrate: int  # bits/s over the samples
    vmaf: float  # mean VMAF against the source at display size


@dataclass(frozen=True)
class HullPolicy:
    targets: tuple[float, ...] = (95.0, 93.0, 88.0, 80.0, 70.0)  # VMAF steps, top first
    min_step: float = 1.5  # a rung is at least this many times cheaper than the rung above
    # A rung's peak (its maxrate) stays under what the source's video spends (`choose_rungs`' source_bitrate:
    # video against video, transcoder.encode.fitted.source_video_bitrate) times this margin, and what the
    # rung is predicted to spend on average under the source's rate over `peak_factor`: a rung never spends
    # more than its source on average, and may spend up to the margin more where the content needs it.
    # With the peak held at the average's bound (a margin of 1.0), the 10-minute film's top rung spent
    # 417 kbit/s of the 493 planned under a VBV that bound it, and scored VMAF 80.0 where the same rung
    # with room for its peaks spent 520 and scored 84.8.
    source_margin: float = 1.5
    peak_factor: float = 1.10  # transcoder.encode.ladder.MAXRATE_FACTOR: room under the source's average
    min_bitrate: int = 32_000  # transcoder.encode.ladder.MIN_VIDEO_BITRATE
    # Once a rung spends this little, no rung goes below it: Apple's lowest rung (145 kbit/s) is the floor
    # a ladder has to reach for the slowest networks, and a cheaper one serves no network it does not.
    floor_bitrate: int = 150_000
    # A ladder whose lowest rung spends more than this gets one more rung at most this: players on slow
    # networks (a 3G link, ~0.5-1 Mbit/s) need a rung, audio included, they can sustain.
    low_bitrate: int = 450_000
    # A capped-CRF rung's peak (maxrate) is at most this times what its curve predicts it spends (and
    # within its bounds): room for the content's harder moments, not for a different rung.
    peak_over_predicted: float = 2.0
    # Neighbouring rungs (audio counted) further apart than this get a rung between them (`fill_gaps`),
    # at most `max_fill` in all.
    max_gap: float = 2.5
    max_fill: int = 2


@dataclass(frozen=True)
class Choice:
    """A rung of the content-aware ladder."""

    short: int
    bitrate: int
    # The step it was chosen for; None: the best point measured, the slow-network rung, or a gap's middle.
    target_vmaf: float | None
    predicted_vmaf: float  # the curve's VMAF at this short side and bit rate
    crf: float  # the curve's CRF at this bit rate: what the rung is encoded with
    peak: int  # the most the rung may spend (its bounds): the encode's maxrate


class Curve:
    """One resolution's rate-quality curve: bit rate -> VMAF and back, piecewise linear in log(bits)."""

    def __init__(self, short: int, points: Iterable[Measurement]) -> None:
        self.short = short
        kept: list[tuple[float, float]] = []
        crfs: list[float] = []
        for m in sorted(points, key=lambda m: (m.bitrate, -m.vmaf)):
            if m.bitrate <= 0 or not math.isfinite(m.vmaf) or not math.isfinite(m.crf):
                continue
            if kept and m.vmaf <= kept[-1][1]:
                continue  # more bits for no more quality: never on the curve
            kept.append((math.log(m.bitrate), m.vmaf))
            crfs.append(m.crf)
        if not kept:
            raise ValueError(f"no usable measurement at {short}p")
        self._points = kept
        self._crfs = crfs

    @property
    def best(self) -> float:
        return self._points[-1][1]

    @property
    def worst(self) -> float:
        return self._points[0][1]

    @property
    def cheapest(self) -> int:
        return round(math.exp(self._points[0][0]))

    def bitrate_for(self, vmaf: float) -> int | None:
        """The bit rate this resolution needs for `vmaf`, None outside what was measured."""
        pts = self._points
        if vmaf > pts[-1][1] or vmaf < pts[0][1]:
            return None
        for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
            if y0 <= vmaf <= y1:
                return round(math.exp(x0 + (x1 - x0) * (vmaf - y0) / (y1 - y0)))
        return round(math.exp(pts[0][0]))  # a single point, exactly at its quality

    def vmaf_at(self, bitrate: int) -> float:
        """VMAF at `bitrate`, held flat beyond the measured range."""
        x = math.log(max(bitrate, 1))
        pts = self._points
        if x <= pts[0][0]:
            return pts[0][1]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
            if x0 <= x <= x1:
                return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        return pts[-1][1]

    def crf_at(self, bitrate: int) -> float:
        """The CRF that spends `bitrate`, linear in log(bits) between the measured CRFs; the measured
        extremes beyond them (a rung capped under the cheapest point keeps its CRF; its peak caps it)."""
        x = math.log(max(bitrate, 1))
        pts, crfs = self._points, self._crfs
        if x <= pts[0][0]:
            return crfs[0]
        for (x0, _y0), (x1, _y1), c0, c1 in zip(pts, pts[1:], crfs, crfs[1:], strict=False):
            if x0 <= x <= x1:
                return round(c0 + (c1 - c0) * (x - x0) / (x1 - x0), 2)
        return crfs[-1]


def curves(measurements: Iterable[Measurement]) -> dict[int, Curve]:
    by_short: dict[int, list[Measurement]] = {}
    for m in measurements:
        by_short.setdefault(m.short, []).append(m)
    return {short: Curve(short, points) for short, points in sorted(by_short.items())}


def max_bitrate(short: int, fps_factor: float = 1.0) -> int:
    """The most a rung of this short side may spend (see _APPLE_TOP_BY_SHORT)."""
    ref_short = min(_APPLE_TOP_BY_SHORT, key=lambda s: abs(s - short))
    scaled = _APPLE_TOP_BY_SHORT[ref_short] * (short / ref_short) ** 2
    return int(scaled * APPLE_MARGIN * fps_factor)


def cheapest_for(
    table: dict[int, Curve], vmaf: float, max_short: int, limit: Callable[[int], int] | None = None
) -> tuple[int, int] | None:
    """(short side, bit rate) of the cheapest resolution up to `max_short` that reaches `vmaf` within
    its `limit` (the most a rung of that size may spend; None: unbounded)."""
    best: tuple[int, int] | None = None
    for short, curve in table.items():
        if short > max_short:
            continue
        bits = curve.bitrate_for(vmaf)
        if bits is None or (limit is not None and bits > limit(short)):
            continue
        if best is None or bits < best[1] or (bits == best[1] and short > best[0]):
            best = (short, bits)
    return best


def best_within(table: dict[int, Curve], limit: Callable[[int], int]) -> tuple[float, int, int]:
    """(VMAF, short side, bit rate) of the best quality any resolution reaches within its `limit`: each
    curve read at its limit, or where it saturates below it; the cheaper of equals."""
    reach = []
    for short, curve in table.items():
        bits = min(limit(short), curve.bitrate_for(curve.best) or curve.cheapest)
        reach.append((curve.vmaf_at(bits), -bits, short))
    vmaf, neg_bits, short = max(reach)
    return vmaf, short, -neg_bits


def choose_rungs(
    measurements: Sequence[Measurement],
    *,
    source_bitrate: int | None,
    policy: HullPolicy = HullPolicy(),
    fps_factor: float = 1.0,
    audio_bitrate: int = 0,
) -> list[Choice]:
    """The content-aware ladder's rungs, lowest first (see the module docstring). `audio_bitrate` is
    what every variant adds to its video (0 without audio): rungs are `min_step` apart with it counted,
    as a variant declares it (on the grainy source, 1.47x apart on video was 1.32x with 128 kbit/s of audio)."""
    if audio_bitrate < 0:
        raise ValueError(f"audio bit rate {audio_bitrate} is negative")
    table = curves(measurements)
    if not table:
        raise ValueError("no measurements")
    cap = peak_cap = None
    if source_bitrate is not None and source_bitrate > 0:
        cap = max(policy.min_bitrate, int(source_bitrate / policy.peak_factor))
        peak_cap = max(cap, int(source_bitrate * policy.source_margin))

    def limit(short: int, source_cap: int | None = cap) -> int:
        """The most a rung of this size may spend on average (with `peak_cap`: at its peak)."""
        bits = max_bitrate(short, fps_factor)
        if source_cap is not None:
            bits = min(bits, source_cap)
        return max(bits, policy.min_bitrate)

    def choice(step: float | None, short: int, bits: int) -> Choice:
        bits = max(min(bits, limit(short)), policy.min_bitrate)
        curve = table[short]
        peak = min(limit(short, peak_cap), max(round(bits * policy.peak_over_predicted), policy.min_bitrate))
        return Choice(short, bits, step, round(curve.vmaf_at(bits), 2), curve.crf_at(bits), peak)

    # The top rung: the first target the hull reaches within the rungs' bounds (steps it reaches only
    # above them are dropped, not chased); when the top step is not among them, the best quality within
    # the bounds, if it is better than the highest step reached.
    candidates: list[tuple[float | None, int, int]] = []  # (target, short, bits), top first
    top_short = max(table)
    for target in sorted(policy.targets, reverse=True):
        found = cheapest_for(table, target, top_short, limit)
        if found is not None:
            candidates.append((target, *found))
    if not candidates or candidates[0][0] != max(policy.targets):
        best_vmaf, best_short, best_bits = best_within(table, limit)
        if not candidates or best_vmaf > (candidates[0][0] or 0.0):
            candidates.insert(0, (None, best_short, best_bits))
    # The lowest step not reached (every curve already better there): the cheapest point measured.
    lowest_target: float = min(policy.targets)
    if all(curve.worst > lowest_target for curve in table.values()):
        short = min(table, key=lambda s: table[s].cheapest)
        candidates.append((lowest_target, short, table[short].cheapest))

    chosen: list[Choice] = []
    for step, short, bits in candidates:
        if chosen:
            above = chosen[-1]
            if short > above.short:
                # Never a larger picture below a smaller one: the same quality on the smaller curve.
                refit = cheapest_for(table, step, above.short, limit) if step is not None else None
                if refit is None:
                    continue
                short, bits = refit
        rung = choice(step, short, bits)
        if chosen and (
            not far_enough(rung.bitrate, chosen[-1].bitrate, policy.min_step, audio_bitrate)
            or chosen[-1].bitrate <= policy.floor_bitrate
        ):
            continue  # too close to the rung above, or the rung above already serves the slowest networks
        chosen.append(rung)
    low = low_rung(table, chosen[-1], policy, limit, audio_bitrate)
    if low is not None:
        chosen.append(choice(None, *low))
    return fill_gaps(
        chosen[::-1],
        [(short, c.cheapest) for short, c in table.items()],
        lambda short, bits: choice(None, short, bits),
        policy,
        audio_bitrate,
    )


def fill_gaps(
    rungs: list[Choice],
    sizes: Sequence[tuple[int, int]],
    make: Callable[[int, int], Choice],
    policy: HullPolicy,
    audio_bitrate: int = 0,
) -> list[Choice]:
    """`rungs` (lowest first) with a rung in each gap wider than `policy.max_gap` (audio counted), the
    widest first, at most `policy.max_fill`: at the gap's geometric middle, on the size whose curve
    predicts the best VMAF there (`make`: the Choice of a size at a bit rate, within its bounds), among
    `sizes` (short side, cheapest point measured) between the neighbours' and measured at that rate;
    kept only if `min_step` from both neighbours and better than the rung below, worse than the one above."""
    rungs = list(rungs)
    tried: set[tuple[int, int]] = set()
    added = 0
    while added < policy.max_fill:
        gaps = [
            ((high.bitrate + audio_bitrate) / (low.bitrate + audio_bitrate), i)
            for i, (low, high) in enumerate(zip(rungs, rungs[1:], strict=False))
            if (low.bitrate, high.bitrate) not in tried
        ]
        wide = [(ratio, i) for ratio, i in gaps if ratio > policy.max_gap]
        if not wide:
            break
        _ratio, i = max(wide)
        low, high = rungs[i], rungs[i + 1]
        tried.add((low.bitrate, high.bitrate))
        middle = round(math.sqrt((low.bitrate + audio_bitrate) * (high.bitrate + audio_bitrate))) - audio_bitrate
        # A size is read only where it was measured: below its cheapest point its curve is held flat,
        # which would promise a large picture's quality for a fraction of its bits.
        options = [
            option
            for short, cheapest in sizes
            if low.short <= short <= high.short and (option := make(short, middle)).bitrate >= cheapest
        ]
        best = max(options, key=lambda c: (c.predicted_vmaf, -c.bitrate, -c.short), default=None)
        if (
            best is not None
            and far_enough(low.bitrate, best.bitrate, policy.min_step, audio_bitrate)
            and far_enough(best.bitrate, high.bitrate, policy.min_step, audio_bitrate)
            and low.predicted_vmaf < best.predicted_vmaf < high.predicted_vmaf
        ):
            rungs.insert(i + 1, best)
            added += 1
    return rungs


def far_enough(low: int, high: int, min_step: float, audio_bitrate: int) -> bool:
    """Whether a variant of video bit rate `low` is at least `min_step` times cheaper than one of `high`,
    each with `audio_bitrate` of audio added."""
    return (low + audio_bitrate) * min_step <= high + audio_bitrate


def low_rung(
    table: dict[int, Curve], lowest: Choice, policy: HullPolicy, limit: Callable[[int], int], audio_bitrate: int = 0
) -> tuple[int, int] | None:
    """(short side, bit rate) of a rung for slow networks under `lowest`, None when `lowest` already is
    one: the best VMAF the hull measured at `policy.low_bitrate` or less (at least `min_step` under
    `lowest` with `audio_bitrate` counted on both, within each size's `limit`), on a picture no larger
    than its; the cheapest point measured when none is that cheap."""
    if lowest.bitrate <= policy.low_bitrate:
        return None
    budget = min(policy.low_bitrate, int((lowest.bitrate + audio_bitrate) / policy.min_step) - audio_bitrate)
    sizes = {short: curve for short, curve in table.items() if short <= lowest.short}
    reach = [
        (curve.vmaf_at(bits), short, bits)
        for short, curve in sizes.items()
        if curve.cheapest <= (bits := min(budget, limit(short)))
    ]
    if reach:
        vmaf, short, bits = max(reach)
        # A curve saturated under the budget needs no more than where it saturates.
        return short, min(bits, sizes[short].bitrate_for(vmaf) or bits)
    short = min(sizes, key=lambda s: (sizes[s].cheapest, s))
    bits = sizes[short].cheapest
    return (short, bits) if far_enough(bits, lowest.bitrate, policy.min_step, audio_bitrate) else None
