from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from transcoder.encode import commands, fitted
from transcoder.encode.commands import video_padding
from transcoder.encode.hull import Choice
from transcoder.encode.ladder import add_av1_rungs, h264_level, plan_ladder


@pytest.mark.parametrize(
    ("duration", "last_frame", "rate", "padding"),
    [
        (3.0, 0.0, 1.0, 2.0),  # one frame a second, then 2 s more of audio
        (180.0, 0.0, 25.0, 179.96),  # a cover image over a 3-minute song
        (10.0, 9.96, 25.0, 0.0),  # the video reaches the end
        (10.02, 9.96, 25.0, 0.0),  # audio a frame longer: not worth a frame
        (10.0, None, 25.0, 0.0),  # end unknown
    ],
)
def test_video_padding(duration: float, last_frame: float | None, rate: float, padding: float) -> None:
    assert video_padding(duration, last_frame, rate) == pytest.approx(padding)


def _rung_options(argv: list[str], name: str) -> dict[str, str]:
    """The options of the output written to out/<name>/index.m3u8 (those between it and the output before)."""
    end = argv.index(str(Path("out") / name / commands.PLAYLIST_NAME))
    start = max([i for i, arg in enumerate(argv[:end]) if arg.endswith(commands.PLAYLIST_NAME)], default=0)
    part = argv[start + 1 : end]
    return {part[i]: part[i + 1] for i in range(len(part) - 1) if part[i].startswith("-")}


def test_a_fitted_rung_is_capped_crf_and_a_fixed_rung_abr() -> None:
    choices = [
        Choice(234, 200_000, None, 70.0, crf=31.5, peak=400_000),
        Choice(360, 600_000, 95.0, 95.0, crf=23.25, peak=900_000),
    ]
    fitted_ladder = fitted.fitted_ladder(choices, 640, 360, 30.0, has_audio=False)
    fixed_ladder = plan_ladder(640, 360, 30.0, has_audio=False)
    for ladder in (fitted_ladder, fixed_ladder):
        argv = commands.encode_ladder(
            commands.EncodePlan("in.mp4", Path("out"), ladder, 2.0, interlaced=False), "ffmpeg"
        )
        for i, rung in enumerate(ladder.rungs):
            opts = _rung_options(argv, rung.name)
            assert opts["-maxrate"] == str(rung.maxrate) and opts["-bufsize"] == str(rung.bufsize)
            if ladder is fitted_ladder:
                assert "-b:v" not in opts and float(opts["-crf"]) == choices[i].crf
                # The peak only as a ceiling, with a buffer a keyframe can borrow from.
                assert rung.maxrate == choices[i].peak and rung.bufsize == 2 * choices[i].peak
            else:
                assert "-crf" not in opts and opts["-b:v"] == str(rung.bitrate)
                assert rung.crf is None and rung.bufsize == int(rung.bitrate * 1.5)
    # The level fits the peak the rung may reach.
    assert fitted_ladder.rungs[1].level == h264_level(640, 360, 30.0, 900_000)


def test_an_av1_rung_is_capped_crf_under_its_ceiling() -> None:
    """SVT-AV1 holds a ceiling only in CRF mode (with -b:v it refuses -maxrate): no -b:v, and the rung's
    CRF, maxrate and buffer; x264's options gone."""
    ladder = add_av1_rungs(plan_ladder(640, 360, 30.0, has_audio=False))
    argv = commands.encode_ladder(commands.EncodePlan("in.mp4", Path("out"), ladder, 2.0, interlaced=False), "ffmpeg")
    for rung in ladder.rungs[2:]:
        opts = _rung_options(argv, rung.name)
        assert opts["-c:v"] == "libsvtav1" and "-b:v" not in opts and "-x264-params" not in opts
        assert (opts["-crf"], opts["-maxrate"], opts["-bufsize"]) == (
            str(rung.crf),
            str(rung.maxrate),
            str(rung.bufsize),
        )


def test_a_rung_with_its_own_preset_is_encoded_at_it() -> None:
    """A content-aware ladder moved to a slower preset (fitted.budget_preset) encodes its rungs at it; the
    others, and every AV1 rung, keep the job's."""
    ladder = plan_ladder(640, 360, 30.0, has_audio=False)
    moved = replace(ladder, rungs=(replace(ladder.rungs[0], preset="fast"), *ladder.rungs[1:]))
    argv = commands.encode_ladder(
        commands.EncodePlan("in.mp4", Path("out"), moved, 2.0, interlaced=False, preset="veryfast"), "ffmpeg"
    )
    assert _rung_options(argv, moved.rungs[0].name)["-preset"] == "fast"
    assert all(_rung_options(argv, rung.name)["-preset"] == "veryfast" for rung in moved.rungs[1:])
    with_av1 = add_av1_rungs(moved)
    assert all(rung.preset is None for rung in with_av1.rungs if rung.codec == "av1")
