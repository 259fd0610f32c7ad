from __future__ import annotations

import pytest

from transcoder.encode.ladder import APPLE_LADDER, MIN_VIDEO_BITRATE, even, h264_level, output_frame_rate, plan_ladder


@pytest.mark.parametrize(
    ("width", "height", "rate", "expected"),
    [
        # 1080p30 16:9: the whole Apple ladder, nothing above the source.
        (1920, 1080, 30, [(w, h) for w, h, _ in APPLE_LADDER]),
        (640, 360, 30, [(416, 234), (640, 360)]),
        # Portrait: the ladder on the short side, width and height swapped.
        (1080, 1920, 30, [(h, w) for w, h, _ in APPLE_LADDER]),
        # Odd dimensions: even rungs, and a top rung at the source (rounded to even).
        (853, 481, 25, [(414, 234), (638, 360), (766, 432), (766, 432), (852, 480)]),
        # Anamorphic PAL 16:9 shown at 1024x576: 540p is within 10% of the source, no extra rung.
        (1024, 576, 25, [(416, 234), (640, 360), (768, 432), (768, 432), (960, 540)]),
        # Smaller than the smallest rung: one rung at the source size, never upscaled.
        (320, 180, 30, [(320, 180)]),
        # 4:3 (720x576 with SAR 16:15 displays as 768x576).
        (768, 576, 25, [(312, 234), (480, 360), (576, 432), (576, 432), (720, 540)]),
    ],
)
def test_rungs(width: int, height: int, rate: float, expected: list[tuple[int, int]]) -> None:
    ladder = plan_ladder(width, height, rate, has_audio=True)
    assert [(r.width, r.height) for r in ladder.rungs] == expected
    for rung in ladder.rungs:
        assert rung.width % 2 == 0 and rung.height % 2 == 0
        assert rung.width <= max(width, height) and rung.height <= max(width, height)
        assert rung.maxrate >= rung.bitrate


def test_bitrates_rise_and_names_are_unique() -> None:
    ladder = plan_ladder(1920, 1080, 30, has_audio=True)
    bitrates = [r.bitrate for r in ladder.rungs]
    assert bitrates == sorted(bitrates)
    assert len({r.name for r in ladder.rungs}) == len(ladder.rungs)


@pytest.mark.parametrize(
    ("source", "output"), [(24, 24), (29.97, 29.97), (50, 50), (60, 60), (120, 60), (240, 60), (0, 30)]
)
def test_frame_rate_kept_up_to_60(source: float, output: float) -> None:
    assert output_frame_rate(source) == output


def test_high_frame_rate_gets_more_bits() -> None:
    low = plan_ladder(1280, 720, 30, has_audio=True).rungs[-1]
    high = plan_ladder(1280, 720, 60, has_audio=True).rungs[-1]
    assert high.bitrate > low.bitrate


@pytest.mark.parametrize(
    ("w", "h", "fps", "level"),
    [
        (1920, 1080, 30, "4.0"),
        (1920, 1080, 60, "4.2"),
        (1280, 720, 30, "3.1"),
        (640, 360, 30, "3.0"),
        (1280, 720, 60, "3.2"),
    ],
)
def test_h264_level(w: int, h: int, fps: float, level: str) -> None:
    assert h264_level(w, h, fps, 5_000_000) == level


def test_level_at_most_4_1_for_1080p30() -> None:
    for rung in plan_ladder(1920, 1080, 30, has_audio=True).rungs:
        assert float(rung.level) <= 4.1


def test_no_audio() -> None:
    assert plan_ladder(640, 360, 30, has_audio=False).audio_bitrate is None


@pytest.mark.parametrize(
    ("value", "result"), [(1, 2), (3, 2), (5, 4), (480.9, 480), (481, 480), (483, 482), (482.2, 482), (0, 2)]
)
def test_even(value: float, result: int) -> None:
    assert even(value) == result


def test_invalid_size() -> None:
    with pytest.raises(ValueError):
        plan_ladder(0, 360, 30, has_audio=True)


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        # Below one macroblock on the short side: scaled up to 16, display aspect kept, even sizes.
        (1, 1, (16, 16)),
        (16, 16, (16, 16)),
        (3, 5, (16, 26)),
        (5, 3, (26, 16)),
        (15, 40, (16, 42)),
        # From 16 up, never upscaled.
        (16, 40, (16, 40)),
        (18, 18, (18, 18)),
    ],
)
def test_tiny_sources_get_one_rung_of_at_least_a_macroblock(width: int, height: int, expected: tuple[int, int]) -> None:
    ladder = plan_ladder(width, height, 30, has_audio=False)
    assert [(r.width, r.height) for r in ladder.rungs] == [expected]


def test_tiny_rungs_keep_a_bitrate_x264_accepts() -> None:
    # Bits by area would give 381 bit/s at 16x16; x264 reads under 1 kbit/s as "no bitrate" and exits.
    (rung,) = plan_ladder(16, 16, 30, has_audio=True).rungs
    assert rung.bitrate == MIN_VIDEO_BITRATE and rung.maxrate > rung.bitrate


def test_audio_stream_is_carried() -> None:
    assert plan_ladder(640, 360, 30, has_audio=True, audio_stream=3).audio_stream == 3
    assert plan_ladder(640, 360, 30, has_audio=True).audio_stream == 0
