"""The content-aware ladder's choice of rungs from measured points (transcoder.encode.hull): table tests."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from media.probe import AudioInfo, MediaInfo, VideoInfo
from transcoder.encode import fitted
from transcoder.encode.hull import (
    Choice,
    Curve,
    HullPolicy,
    Measurement,
    best_within,
    choose_rungs,
    curves,
    far_enough,
    fill_gaps,
    max_bitrate,
)
from transcoder.encode.ladder import plan_ladder


def curve_points(
    short: int, bits: int, gain_per_doubling: float, top: float, *, start: float = 60.0
) -> list[Measurement]:
    """Points of a synthetic rate-quality curve: VMAF `start` at `bits`, +gain per doubling of bits,
    saturating at `top` (four CRFs, as the analysis measures)."""
    return [
        Measurement(short, crf, bits * 2**i, min(top, start + gain_per_doubling * i))
        for i, crf in enumerate((38.0, 32.0, 26.0, 20.0))
    ]


# A detailed source: larger pictures win at high quality, small ones at low quality.
HARD = [
    *curve_points(234, 100_000, 8, 74),
    *curve_points(360, 200_000, 10, 84),
    *curve_points(540, 400_000, 11, 92),
    *curve_points(720, 700_000, 12, 97),
]
# A static slide deck: every size reaches high quality for few bits.
EASY = [
    *curve_points(234, 40_000, 3, 90, start=82),
    *curve_points(360, 60_000, 3, 96, start=86),
    *curve_points(540, 90_000, 3, 98, start=89),
    *curve_points(720, 120_000, 3, 99, start=90),
]


def test_curve_reads_both_ways_in_log_bits() -> None:
    curve = Curve(360, [Measurement(360, 30, 100_000, 70.0), Measurement(360, 24, 400_000, 90.0)])
    assert curve.bitrate_for(80.0) == 200_000  # halfway in log(bits): the geometric mean
    assert curve.vmaf_at(200_000) == pytest.approx(80.0)
    assert curve.bitrate_for(95.0) is None and curve.bitrate_for(60.0) is None
    assert curve.vmaf_at(10_000) == 70.0 and curve.vmaf_at(10_000_000) == 90.0


def test_points_that_cost_more_for_no_more_quality_are_dropped() -> None:
    curve = Curve(
        360,
        [
            Measurement(360, 38, 100_000, 60.0),
            Measurement(360, 36, 110_000, 59.0),  # more bits, worse: off the curve
            Measurement(360, 30, 200_000, 75.0),
        ],
    )
    assert curve.cheapest == 100_000 and curve.best == 75.0
    assert curve.bitrate_for(60.0) == 100_000


def test_hard_content_gets_a_rung_per_step_on_the_cheapest_size_within_its_bound() -> None:
    rungs = choose_rungs(HARD, source_bitrate=None)
    # 93 lies within 1.5x of 95 on the 720p curve (+12 per doubling): one rung serves both.
    assert [r.target_vmaf for r in rungs] == [70.0, 80.0, 88.0, 95.0]
    # 234p would reach 70 at 238 kbit/s, above what a 234p rung may spend (181): 360p reaches it at 400.
    assert [r.short for r in rungs] == [360, 540, 540, 720]
    # Lowest first; sizes never shrink going up; each rung at least 1.5x the one below.
    assert [r.short for r in rungs] == sorted(r.short for r in rungs)
    for low, high in zip(rungs, rungs[1:], strict=False):
        assert high.bitrate >= 1.5 * low.bitrate
    # Each rung sits where the cheapest curve reaches its step within that size's bound, and reaches it.
    table = curves(HARD)
    for rung in rungs:
        assert rung.target_vmaf is not None
        cheapest = min(
            bits
            for c in table.values()
            if (bits := c.bitrate_for(rung.target_vmaf)) is not None
            and c.short <= rung.short
            and bits <= max_bitrate(c.short)
        )
        assert rung.bitrate == cheapest <= max_bitrate(rung.short)
        assert rung.predicted_vmaf == pytest.approx(rung.target_vmaf, abs=0.05)


def test_easy_content_gets_fewer_rungs_and_far_fewer_bits() -> None:
    easy, hard = choose_rungs(EASY, source_bitrate=None), choose_rungs(HARD, source_bitrate=None)
    assert len(easy) < len(hard)
    assert easy[-1].bitrate < hard[-1].bitrate / 10
    assert easy[-1].target_vmaf == 95.0
    assert easy[0].target_vmaf == 88.0  # every curve starts above 80: the cheapest point serves the lower steps


def test_no_rung_peaks_above_the_source() -> None:
    policy = HullPolicy()
    rungs = choose_rungs(HARD, source_bitrate=1_200_000, policy=policy)
    for rung in rungs:
        assert rung.bitrate * policy.peak_factor <= 1_200_000
        assert rung.peak <= 1_200_000 * policy.source_margin
    # The capped top rung reports the quality its curve gives at the cap, below its step.
    assert rungs[-1].predicted_vmaf < 95.0
    # Rungs squeezed together by the cap are dropped, not duplicated.
    for low, high in zip(rungs, rungs[1:], strict=False):
        assert high.bitrate >= 1.5 * low.bitrate


def test_unreachable_top_step_keeps_the_best_point_measured() -> None:
    capped = [*curve_points(360, 300_000, 10, 84), *curve_points(540, 300_000, 9, 85)]
    rungs = choose_rungs(capped, source_bitrate=None)
    top = rungs[-1]
    assert top.target_vmaf is None
    assert top.predicted_vmaf == pytest.approx(85.0)
    assert top.short == 540


def test_a_source_above_every_step_gets_its_cheapest_point_at_the_bottom() -> None:
    rungs = choose_rungs(EASY, source_bitrate=None, policy=HullPolicy(targets=(95.0, 50.0)))
    assert rungs[0].target_vmaf == 50.0
    assert rungs[0].bitrate == min(m.bitrate for m in EASY)
    assert rungs[0].predicted_vmaf == 82.0


def test_rungs_stay_within_bounds() -> None:
    huge = [Measurement(1080, 20, 80_000_000, 96.0), Measurement(1080, 26, 40_000_000, 90.0)]
    rungs = choose_rungs(huge, source_bitrate=None)
    assert all(r.bitrate <= max_bitrate(1080) for r in rungs)
    tiny = [Measurement(234, 38, 5_000, 60.0), Measurement(234, 20, 9_000, 99.0)]
    assert all(r.bitrate >= HullPolicy().min_bitrate for r in choose_rungs(tiny, source_bitrate=None))


def test_garbage_measurements_are_refused() -> None:
    with pytest.raises(ValueError):
        choose_rungs([], source_bitrate=None)
    with pytest.raises(ValueError):
        choose_rungs([Measurement(360, 20, 0, 90.0), Measurement(360, 26, 100, math.nan)], source_bitrate=None)


@pytest.mark.parametrize(
    ("bitrate", "crf"),
    [
        (100_000, 36.0),  # a measured point: its own CRF
        (400_000, 22.0),
        (200_000, 29.0),  # halfway in log(bits): halfway in CRF
        (50_000, 36.0),  # below the cheapest point: its CRF (the rung's peak caps it)
        (800_000, 22.0),  # above the best: its CRF
    ],
)
def test_crf_is_read_off_the_curve_in_log_bits(bitrate: int, crf: float) -> None:
    curve = Curve(360, [Measurement(360, 36, 100_000, 70.0), Measurement(360, 22, 400_000, 90.0)])
    assert curve.crf_at(bitrate) == pytest.approx(crf)


def test_a_dropped_point_takes_its_crf_with_it() -> None:
    curve = Curve(
        360,
        [
            Measurement(360, 38, 100_000, 60.0),
            Measurement(360, 36, 110_000, 59.0),  # off the curve
            Measurement(360, 30, 200_000, 75.0),
        ],
    )
    assert curve.crf_at(110_000) == pytest.approx(38 - 8 * math.log(1.1) / math.log(2), abs=0.01)


@pytest.mark.parametrize("source_bitrate", [None, 1_200_000, 90_000])
def test_rungs_are_capped_crf_at_their_curves_point(source_bitrate: int | None) -> None:
    policy = HullPolicy()
    table = curves(HARD)
    for rung in choose_rungs(HARD, source_bitrate=source_bitrate, policy=policy):
        assert rung.crf == table[rung.short].crf_at(rung.bitrate)
        assert 20.0 <= rung.crf <= 38.0
        # The peak: room above the prediction, within the rung's bounds (the source, the size's top).
        assert rung.bitrate <= rung.peak <= 2 * rung.bitrate
        assert rung.peak <= max_bitrate(rung.short)
        if source_bitrate is not None:
            assert rung.bitrate <= max(policy.min_bitrate, source_bitrate / policy.peak_factor)
            assert rung.peak <= max(policy.min_bitrate, source_bitrate * policy.source_margin)


# The BBB trailer's shape: every step needs 0.7 Mbit/s or more at its best size, and the source spends
# 1.1 Mbit/s; small pictures reach mid VMAF cheaply.
TRAILER = [
    *curve_points(234, 120_000, 9, 72, start=55),
    *curve_points(360, 250_000, 9, 84, start=62),
    *curve_points(540, 500_000, 8, 93, start=80),
    *curve_points(720, 700_000, 7, 98, start=88),
]


def test_a_ladder_whose_steps_all_cost_more_gets_a_rung_for_slow_networks() -> None:
    policy = HullPolicy(targets=(95.0, 93.0, 88.0))
    rungs = choose_rungs(TRAILER, source_bitrate=1_140_000, policy=policy)
    assert rungs[0].bitrate <= policy.low_bitrate < rungs[1].bitrate
    assert rungs[0].target_vmaf is None and rungs[0].short <= rungs[1].short
    assert rungs[1].bitrate >= policy.min_step * rungs[0].bitrate
    # The best the hull measured for that budget: 360p (69.6 at 0.45 Mbit/s) beats 234p (66 at its 0.29 Mbit/s top).
    table = curves(TRAILER)
    assert rungs[0].short == 360
    assert rungs[0].predicted_vmaf == pytest.approx(table[360].vmaf_at(policy.low_bitrate), abs=0.01)
    assert table[234].vmaf_at(max_bitrate(234)) < rungs[0].predicted_vmaf
    assert min(table[540].cheapest, table[720].cheapest) > policy.low_bitrate


def test_a_low_rung_needs_no_more_than_where_its_curve_saturates() -> None:
    flat = [*curve_points(234, 40_000, 9, 70, start=60), *curve_points(720, 2_000_000, 3, 97, start=90)]
    rungs = choose_rungs(flat, source_bitrate=None, policy=HullPolicy(targets=(95.0,)))
    assert [r.short for r in rungs] == [234, 720]
    assert rungs[0].bitrate == 160_000 and rungs[0].predicted_vmaf == 70.0  # 234p saturates at 0.16 Mbit/s


def test_no_low_rung_when_the_lowest_already_serves_slow_networks() -> None:
    policy = HullPolicy()
    for measured in (HARD, EASY):
        rungs = choose_rungs(measured, source_bitrate=None, policy=policy)
        assert rungs[0].bitrate <= policy.low_bitrate
        assert [r for r in rungs if r.target_vmaf is None] == []


def test_with_nothing_that_cheap_the_low_rung_is_the_cheapest_point() -> None:
    costly = [*curve_points(540, 900_000, 6, 90, start=80), *curve_points(720, 1_500_000, 5, 97, start=85)]
    rungs = choose_rungs(costly, source_bitrate=None, policy=HullPolicy(targets=(95.0,)))
    assert (rungs[0].short, rungs[0].bitrate) == (540, 900_000)
    assert rungs[0].crf == 38.0


# Measured by the job on the grainy 720p30 source (bench/ladder.py's "hard", 32 s, veryfast; the analysis's
# one window at 234/360/540/720 x CRF 22/29/36): the source whose two lowest variants were 1.32x apart.
GRAIN_MEASURED = [
    Measurement(short, crf, bits, vmaf)
    for short, crf, bits, vmaf in (
        (234, 22.0, 299_576, 62.054),
        (234, 29.0, 113_812, 52.495),
        (234, 36.0, 95_976, 38.18),
        (360, 22.0, 2_118_368, 74.251),
        (360, 29.0, 224_040, 66.27),
        (360, 36.0, 166_792, 50.984),
        (540, 22.0, 13_959_960, 83.74),
        (540, 29.0, 741_868, 75.523),
        (540, 36.0, 347_332, 61.619),
        (720, 22.0, 36_469_744, 91.299),
        (720, 29.0, 3_729_308, 82.456),
        (720, 36.0, 870_420, 69.829),
    )
]


@pytest.mark.parametrize(
    ("low", "high", "audio", "apart"),
    [
        (300_000, 450_000, 0, True),
        (300_000, 450_000, 128_000, False),  # 428k against 578k: 1.35x
        (280_000, 484_000, 128_000, True),  # 408k against 612k: exactly 1.5x
        (280_000, 483_000, 128_000, False),
        (100_000, 150_000, 384_000, False),  # multichannel audio all but erases a 1.5x video step
    ],
)
def test_far_enough_counts_the_audio_on_both_sides(low: int, high: int, audio: int, apart: bool) -> None:
    assert far_enough(low, high, 1.5, audio) is apart


@pytest.mark.parametrize("audio", [0, 64_000, 128_000, 384_000])
@pytest.mark.parametrize(
    ("name", "measured", "source_bitrate"),
    [("grain", GRAIN_MEASURED, 91_790_396), ("hard", HARD, None), ("trailer", TRAILER, 1_140_000)],
)
def test_variants_are_min_step_apart_with_their_audio(
    name: str, measured: list[Measurement], source_bitrate: int | None, audio: int
) -> None:
    policy = HullPolicy()
    rungs = choose_rungs(measured, source_bitrate=source_bitrate, policy=policy, audio_bitrate=audio)
    assert len(rungs) >= 2, name
    for low, high in zip(rungs, rungs[1:], strict=False):
        assert (high.bitrate + audio) >= policy.min_step * (low.bitrate + audio), (name, low, high)


def test_the_grainy_sources_slow_network_rung_moves_down_for_its_audio() -> None:
    silent = choose_rungs(GRAIN_MEASURED, source_bitrate=91_790_396)
    with_audio = choose_rungs(GRAIN_MEASURED, source_bitrate=91_790_396, audio_bitrate=128_000)
    # Video alone, 360p at 0.37 and 540p at 0.55 Mbit/s are 1.5x apart; with 128 kbit/s of audio
    # on each that was 1.36x. With the audio counted, the slow-network rung spends less.
    assert [r.short for r in silent] == [r.short for r in with_audio] == [360, 540, 540, 720, 720]
    assert silent[0].bitrate == 365_862 and silent[1].bitrate == with_audio[1].bitrate == 548_793
    assert (silent[1].bitrate + 128_000) / (silent[0].bitrate + 128_000) < 1.4
    assert with_audio[0].bitrate == (548_793 + 128_000) * 2 // 3 - 128_000
    assert with_audio[0].predicted_vmaf < silent[0].predicted_vmaf
    # The rungs chosen for steps do not move; the gap's middle (fill_gaps) counts the audio too.
    assert silent[1] == with_audio[1] and silent[3:] == with_audio[3:]


def test_a_negative_audio_bit_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        choose_rungs(HARD, source_bitrate=None, audio_bitrate=-1)


@pytest.mark.parametrize("with_audio", [True, False])
def test_the_fitted_ladder_spaces_its_variants_with_the_audio_it_publishes(with_audio: bool) -> None:
    video = VideoInfo("h264", 1280, 720, (1, 1), 0, 30.0, False, False, "yuv420p")
    audio = AudioInfo("aac", 2, "stereo", 48_000) if with_audio else None
    info = MediaInfo("mp4", 32.0, 367_161_584, video, audio)
    ladder = fitted.ladder_from_measurements(GRAIN_MEASURED, info, source_bytes=info.size, policy=HullPolicy())
    carried = ladder.audio_bitrate or 0
    assert carried == (128_000 if with_audio else 0)
    assert [r.height for r in ladder.rungs] == [360, 540, 540, 720, 720]
    for low, high in zip(ladder.rungs, ladder.rungs[1:], strict=False):
        assert high.bitrate + carried >= 1.5 * (low.bitrate + carried)
    assert ladder.rungs[0].bitrate == (323_195 if with_audio else 365_862)


def test_steps_reached_only_above_the_apple_bound_are_dropped_not_chased() -> None:
    # Grain at 720p reaches 88 only at ~15 Mbit/s, 93 and 95 not at all: the top rung spent 9.3 Mbit/s
    # (the old bound, twice Apple's 720p top) for VMAF 88 and cost more CPU than the ladder saved.
    rungs = choose_rungs(GRAIN_MEASURED, source_bitrate=91_790_396, audio_bitrate=128_000)
    assert [(r.short, r.target_vmaf) for r in rungs] == [
        (360, None),
        (540, 70.0),
        (540, None),  # the middle of the 4.3x gap the steps left (fill_gaps)
        (720, 80.0),
        (720, None),
    ]
    top = rungs[-1]
    assert top.bitrate == top.peak == max_bitrate(720) == 5_625_000  # Apple's 4.5 Mbit/s with its margin
    assert top.predicted_vmaf == pytest.approx(curves(GRAIN_MEASURED)[720].vmaf_at(max_bitrate(720)), abs=0.01)
    assert 80.0 < top.predicted_vmaf < 88.0
    for rung in rungs:
        assert rung.peak <= max_bitrate(rung.short), rung


@pytest.mark.parametrize(
    ("points", "bound", "expected"),
    [
        # 720p's best, 96 at 5.6 Mbit/s, is within its bound: no more bits than that.
        (curve_points(720, 700_000, 12, 97), 6_000_000, (96.0, 720, 5_600_000)),
        # Its bound cuts it at 2.8 Mbit/s: the quality its curve gives there.
        (curve_points(720, 700_000, 12, 97), 2_800_000, (84.0, 720, 2_800_000)),
        # A smaller size that does better within its bound (2.5 Mbit/s) wins: 720p is held to its cheapest point.
        ([*curve_points(540, 400_000, 6, 80), *curve_points(720, 700_000, 12, 97)], 700_000, (75.86, 540, 2_500_000)),
    ],
)
def test_the_best_within_the_bounds(points: list[Measurement], bound: int, expected: tuple[float, int, int]) -> None:
    vmaf, short, bits = best_within(curves(points), lambda short: bound if short == 720 else 2_500_000)
    assert (round(vmaf, 2), short, bits) == (expected[0], expected[1], pytest.approx(expected[2], rel=0.001))


@pytest.mark.parametrize(
    ("stated", "size", "expected"),
    [
        (30_000, 500_000, 30_000),  # MP4: the video stream's own rate, not the file's 100 kbit/s with its audio
        (None, 500_000, 100_000),  # Matroska states none: the whole file, an upper bound
        (None, None, None),
    ],
)
def test_the_source_cap_is_what_its_video_spends(stated: int | None, size: int | None, expected: int | None) -> None:
    video = VideoInfo("h264", 1920, 1080, (1, 1), 0, 30.0, False, False, "yuv420p", bit_rate=stated)
    info = MediaInfo("mp4", 40.0, size, video, AudioInfo("aac", 2, "stereo", 48_000))
    assert fitted.source_video_bitrate(info, size) == expected


def test_no_rung_spends_more_than_the_sources_video() -> None:
    # The static slide: 0.10 Mbit/s of file, of which its video is 40 kbit/s; every variant carries its
    # own 128 kbit/s of audio whatever the source's spends, so rungs are held to the source's video: on
    # average under it, at their peak within the margin above it.
    video = VideoInfo("h264", 1280, 720, (1, 1), 0, 30.0, False, False, "yuv420p", bit_rate=40_000)
    info = MediaInfo("mp4", 40.0, 500_000, video, AudioInfo("aac", 2, "stereo", 48_000))
    policy = HullPolicy()
    ladder = fitted.ladder_from_measurements(EASY, info, source_bytes=info.size, policy=policy)
    assert ladder.rungs and all(r.bitrate <= 40_000 for r in ladder.rungs), ladder.rungs
    assert all(r.maxrate <= 40_000 * policy.source_margin for r in ladder.rungs), ladder.rungs


# Measured by the job on the BBB trailer (55 s, 720p24; the analysis's one window), its video 1.008 Mbit/s:
# per short side, (bits/s, VMAF) at CRF 22, 29 and 36.
TRAILER_MEASURED = [
    Measurement(short, crf, bits, vmaf)
    for short, row in {
        234: ((294_196, 52.371), (99_416, 30.106), (36_960, 7.783)),
        360: ((567_936, 72.972), (199_584, 51.91), (74_376, 23.247)),
        540: ((921_948, 85.461), (343_128, 68.735), (132_888, 38.127)),
        720: ((1_261_032, 91.106), (517_320, 77.263), (210_340, 50.316)),
    }.items()
    for crf, (bits, vmaf) in zip((22.0, 29.0, 36.0), row, strict=True)
]


@pytest.mark.parametrize(
    ("name", "measured", "source_bitrate", "policy", "expected"),
    [
        # Grain: the steps left 540p at 0.55 and 720p at 2.81 Mbit/s, 4.3x apart with the audio: a 540p rung
        # at their geometric middle (1.28 Mbit/s), where 540p's curve beats 720p's (77.0 against 73.2).
        (
            "grain",
            GRAIN_MEASURED,
            91_790_396,
            HullPolicy(),
            [(360, 323_195), (540, 548_793), (540, 1_282_136), (720, 2_810_098), (720, 5_625_000)],
        ),
        # With room for one only, the same: the next widest gap (720p 2.81 -> 5.63 Mbit/s, 1.96x) is under 2.5x.
        (
            "grain",
            GRAIN_MEASURED,
            91_790_396,
            HullPolicy(max_fill=1),
            [(360, 323_195), (540, 548_793), (540, 1_282_136), (720, 2_810_098), (720, 5_625_000)],
        ),
        # At most max_fill: none.
        (
            "grain",
            GRAIN_MEASURED,
            91_790_396,
            HullPolicy(max_fill=0),
            [(360, 323_195), (540, 548_793), (720, 2_810_098), (720, 5_625_000)],
        ),
        # A tighter gap and step: the 4.3x gap first, then the wider of the two halves it leaves (2.1x), on 540p;
        # the 720p pair (1.96x) is left: max_fill is reached.
        (
            "grain",
            GRAIN_MEASURED,
            91_790_396,
            HullPolicy(max_gap=1.9, min_step=1.4),
            [(360, 355_423), (540, 548_793), (540, 1_282_136), (540, 1_907_465), (720, 2_810_098), (720, 5_625_000)],
        ),
        # The trailer's two rungs are 2.1x apart with their audio: under the gap, nothing added.
        ("trailer", TRAILER_MEASURED, 1_008_000, HullPolicy(), [(540, 369_761), (720, 916_363)]),
        # A middle that would sit closer than min_step to a neighbour is not added (2.1x: 1.45x each side).
        ("trailer", TRAILER_MEASURED, 1_008_000, HullPolicy(max_gap=2.0), [(540, 369_761), (720, 916_363)]),
        # ... and is where min_step allows it: on 720p, whose curve beats 540p's there (79.4 against 78.2).
        (
            "trailer",
            TRAILER_MEASURED,
            1_008_000,
            HullPolicy(max_gap=2.0, min_step=1.44),
            [(540, 369_761), (720, 593_002), (720, 916_363)],
        ),
    ],
)
def test_a_gap_wider_than_max_gap_gets_a_rung_at_its_geometric_middle(
    name: str, measured: list[Measurement], source_bitrate: int, policy: HullPolicy, expected: list[tuple[int, int]]
) -> None:
    rungs = choose_rungs(measured, source_bitrate=source_bitrate, policy=policy, audio_bitrate=128_000)
    assert [(r.short, r.bitrate) for r in rungs] == expected, name
    table = curves(measured)
    for low, rung, high in zip(rungs, rungs[1:], rungs[2:], strict=False):
        if rung.target_vmaf is not None or rung is rungs[-1]:
            continue
        # The middle of the gap it filled (its neighbours then: a second fill splits a half the first left),
        # on the size the hull gives there among those between its neighbours, within bounds.
        assert any(
            (rung.bitrate + 128_000) ** 2 == pytest.approx((a.bitrate + 128_000) * (b.bitrate + 128_000), rel=0.001)
            for a in rungs
            for b in rungs
            if a.bitrate < rung.bitrate < b.bitrate
        )
        sizes = [s for s in table if low.short <= s <= high.short and table[s].cheapest <= rung.bitrate]
        assert rung.short == max(sizes, key=lambda s: table[s].vmaf_at(rung.bitrate))
        assert low.predicted_vmaf < rung.predicted_vmaf < high.predicted_vmaf
        assert rung.bitrate <= rung.peak <= max_bitrate(rung.short)
    for low, high in zip(rungs, rungs[1:], strict=False):
        assert far_enough(low.bitrate, high.bitrate, policy.min_step, 128_000), (low, high)


def _rung(short: int, bits: int, vmaf: float) -> Choice:
    return Choice(short, bits, None, vmaf, 30.0, bits)


def test_gaps_are_filled_widest_first_and_at_most_max_fill() -> None:
    # Three rungs 8x and 4x apart on a curve linear in log(bits): one fill goes in the 8x gap, two in both.
    rungs = [_rung(360, 100_000, 50.0), _rung(720, 800_000, 80.0), _rung(720, 3_200_000, 90.0)]
    curve = Curve(720, [Measurement(720, 36, 100_000, 50.0), Measurement(720, 22, 6_400_000, 98.0)])

    def make(short: int, bits: int) -> Choice:
        return _rung(short, bits, curve.vmaf_at(bits))

    sizes = [(720, curve.cheapest)]
    one = fill_gaps(rungs, sizes, make, HullPolicy(max_fill=1))
    assert [r.bitrate for r in one] == [100_000, 282_843, 800_000, 3_200_000]
    two = fill_gaps(rungs, sizes, make, HullPolicy(max_fill=2))
    assert [r.bitrate for r in two] == [100_000, 282_843, 800_000, 1_600_000, 3_200_000]
    # A size measured only above both middles is not read there (its curve is held flat below): no fill.
    assert fill_gaps(rungs, [(720, 2_000_000)], make, HullPolicy(max_fill=2)) == rungs
    # A middle no better than the rung below (a saturated curve) is not a rung.
    flat = fill_gaps(rungs, sizes, lambda short, bits: _rung(short, bits, 50.0), HullPolicy(max_fill=2))
    assert flat == rungs


def test_a_rung_capped_by_the_source_on_average_has_room_for_its_peaks() -> None:
    """The 10-minute film: its video spends 542 kbit/s and no step above VMAF 80 is reachable under it. The
    top rung is planned at the most the source allows on average, and its peak (the encode's maxrate)
    may pass the source's average by the margin: under a peak held at its average, the rung's VBV bound
    its busy scenes (417 kbit/s spent of 493 planned, VMAF 80.0 against 84.8 with room)."""
    policy = HullPolicy()
    film = [*curve_points(540, 200_000, 10, 80, start=60), *curve_points(720, 250_000, 10, 86, start=62)]
    rungs = choose_rungs(film, source_bitrate=542_000, policy=policy)
    top = rungs[-1]
    assert top.bitrate == int(542_000 / policy.peak_factor)
    assert top.peak == int(542_000 * policy.source_margin) > 542_000
    strict = choose_rungs(film, source_bitrate=542_000, policy=HullPolicy(source_margin=1.0))
    assert strict[-1].peak == 542_000


def _film_like(seconds: float, rungs: list[tuple[int, int, int]]) -> tuple[fitted.Ladder, fitted.Ladder, MediaInfo]:
    video = VideoInfo("h264", 1280, 720, (1, 1), 0, 24.0, False, False, "yuv420p", bit_rate=542_000)
    info = MediaInfo("mp4", seconds, 50_000_000, video, AudioInfo("aac", 2, "stereo", 48_000))
    choices = [Choice(short, bits, None, 80.0, crf=30.0, peak=2 * bits) for short, bits, _ in rungs]
    ladder = fitted.fitted_ladder(choices, 1280, 720, 24.0, has_audio=True)
    return ladder, plan_ladder(1280, 720, 24.0, has_audio=True), info


@pytest.mark.parametrize(
    ("seconds", "rungs", "preset"),
    [
        # The 10-minute film's two rungs (540p, 720p) against the fixed ladder's seven: CPU to spare.
        (596.0, [(540, 240_000, 0), (720, 450_000, 0)], "faster"),
        # One rung of seven: CPU for the slowest.
        (40.0, [(720, 300_000, 0)], "medium"),
        # The static slide: one rung too, but at x264's floor, where a slower preset spent more for less.
        (40.0, [(720, 30_000, 0)], None),
        # Grain's five rungs cost about what the fixed seven do: nothing to spend.
        (
            32.0,
            [(360, 236_000, 0), (540, 379_000, 0), (540, 754_000, 0), (720, 1_753_000, 0), (720, 5_751_000, 0)],
            None,
        ),
    ],
)
def test_a_fitted_ladder_spends_what_its_fewer_rungs_save_on_a_slower_preset(
    seconds: float, rungs: list[tuple[int, int, int]], preset: str | None
) -> None:
    ladder, fixed, info = _film_like(seconds, rungs)
    plan = fitted.analysis_plan(info, "", "veryfast")
    moved = fitted.budget_preset(ladder, fixed, plan, "veryfast", seconds)
    assert {rung.preset for rung in moved.rungs} == {preset}
    if all(rung.bitrate <= fitted.BUDGET_MIN_BITRATE for rung in ladder.rungs):
        assert moved == ladder
        return
    offset = {name: off for name, _factor, off in fitted.SLOWER_PRESETS}.get(preset or "", 0.0)
    for before, after in zip(ladder.rungs, moved.rungs, strict=True):
        # The same rung (size, bounds, what it is planned to spend), at the CRF that spends that at the preset.
        assert replace(after, preset=None, crf=before.crf) == before
        assert after.crf == pytest.approx((before.crf or 0) + offset)
    # Within the budget: the estimate of the job's CPU, the analysis included, under the fixed ladder's.
    # (None: not even the fastest of the slower presets fits).
    factor = {name: f for name, f, _off in fitted.SLOWER_PRESETS}.get(preset or "", fitted.SLOWER_PRESETS[0][1])
    spent = fitted.pixel_seconds(ladder.rungs, seconds) * factor + fitted.analysis_pixel_seconds(plan)
    budget = fitted.BUDGET_SHARE * fitted.pixel_seconds(fixed.rungs, seconds)
    assert spent <= budget if preset is not None else spent > budget
    # A job whose preset is not veryfast (what the offsets are measured against) keeps it.
    assert fitted.budget_preset(ladder, fixed, plan, "slow", seconds) == ladder


def test_the_recorded_analysis_plans_the_same_preset() -> None:
    """A split job's parts and a retry plan from the recorded measurements: the preset is part of that
    pure function, so every part encodes its rungs alike."""
    video = VideoInfo("h264", 1280, 720, (1, 1), 0, 24.0, False, False, "yuv420p", bit_rate=542_000)
    info = MediaInfo("mp4", 596.0, 50_000_000, video, AudioInfo("aac", 2, "stereo", 48_000))
    fixed = plan_ladder(1280, 720, 24.0, has_audio=True)
    runs = [
        fitted.ladder_from_measurements(
            TRAILER_MEASURED, info, source_bytes=info.size, policy=HullPolicy(), fixed=fixed
        )
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert {rung.preset for rung in runs[0].rungs} != {None}
    plain = fitted.ladder_from_measurements(TRAILER_MEASURED, info, source_bytes=info.size, policy=HullPolicy())
    assert {rung.preset for rung in plain.rungs} == {None}
