"""Table tests of the pure audio planning: languages, names, dispositions, loudnorm's options and results."""

from __future__ import annotations

import pytest

from media.probe import AudioTrackInfo
from transcoder.encode.audio import (
    DESCRIBES_VIDEO,
    AudioRendition,
    bcp47,
    known_output,
    plan_audio,
    track_records,
    with_loudnorm,
    without_tracks,
)
from transcoder.encode.loudness import (
    Loudness,
    LoudnessTarget,
    after_gain,
    dump_measured,
    linear_gain,
    load_measured,
    measure_argv,
    normalise_options,
    parse_measurements,
)


def _track(index: int, language: str | None = None, **flags: object) -> AudioTrackInfo:
    channels = int(flags.pop("channels", 2))  # type: ignore[call-overload]
    return AudioTrackInfo(index=index, codec="aac", channels=channels, sample_rate=48000, language=language, **flags)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("eng", "en"),
        ("fre", "fr"),  # ISO 639-2/B
        ("fra", "fr"),  # ISO 639-2/T
        ("ger", "de"),
        ("pt-BR", "pt-BR"),
        ("zh-Hant", "zh-Hant"),
        ("und", "und"),
        (None, "und"),
        ("", "und"),
        ("  ", "und"),
        ("xyz", "und"),  # not a language
        ("english please", "und"),
        ("e\x00n", "und"),
    ],
)
def test_stream_language_tags_become_bcp47(tag: str | None, expected: str) -> None:
    assert bcp47(tag) == expected


def _attributes(renditions: tuple[AudioRendition, ...]) -> list[tuple[object, ...]]:
    return [
        (r.name, r.source_index, r.language, r.label, r.default, r.autoselect, r.role, r.characteristics)
        for r in renditions
    ]


@pytest.mark.parametrize(
    ("tracks", "expected"),
    [
        # One untagged track: the single "audio" rendition every source had.
        ([_track(0)], [("audio", 0, "und", "Audio", True, True, "main", None)]),
        # Two languages, the second flagged default: it is "audio" and the default.
        (
            [_track(0, "eng"), _track(1, "fre", default=True)],
            [
                ("audio-0", 0, "en", "English", False, True, "main", None),
                ("audio", 1, "fr", "Français", True, True, "main", None),
            ],
        ),
        # A commentary flagged default is not the default (nor autoselected); the first plain track is.
        (
            [_track(0, "eng", commentary=True, default=True), _track(1, "eng")],
            [
                ("audio-0", 0, "en", "English (commentary)", False, False, "commentary", None),
                ("audio", 1, "en", "English", True, True, "main", None),
            ],
        ),
        # Audio description: its own characteristic; a second plain track of a language is "alternate".
        (
            [_track(0, "spa"), _track(1, "spa", descriptive=True), _track(2, "spa")],
            [
                ("audio", 0, "es", "Español 1", True, True, "main", None),
                ("audio-1", 1, "es", "Español (audio description)", False, True, "description", DESCRIBES_VIDEO),
                ("audio-2", 2, "es", "Español 2", False, True, "alternate", None),
            ],
        ),
        # Titles win over language names, and are made unique.
        (
            [_track(0, "eng", title="Original"), _track(1, "eng", title="Original"), _track(2, title="  ")],
            [
                ("audio", 0, "en", "Original 1", True, True, "main", None),
                ("audio-1", 1, "en", "Original 2", False, True, "alternate", None),
                ("audio-2", 2, "und", "Audio", False, True, "main", None),
            ],
        ),
        # Only extras: the first is the default anyway.
        (
            [_track(0, "eng", commentary=True)],
            [("audio", 0, "en", "English (commentary)", True, False, "commentary", None)],
        ),
        ([], []),
    ],
)
def test_tracks_and_dispositions_become_renditions(
    tracks: list[AudioTrackInfo], expected: list[tuple[object, ...]]
) -> None:
    renditions = plan_audio(tracks)
    assert _attributes(renditions) == expected
    assert all((r.channels, r.group) == (2, "audio") for r in renditions)
    assert sum(r.default for r in renditions) == (1 if tracks else 0)


def test_a_multichannel_track_also_gets_a_5_1_rendition_in_its_own_group() -> None:
    renditions = plan_audio([_track(0, "eng", channels=8), _track(1, "fra"), _track(2, "deu", channels=6)])
    assert [(r.name, r.source_index, r.channels, r.group, r.label) for r in renditions] == [
        ("audio", 0, 2, "audio", "English"),
        ("audio-1", 1, 2, "audio", "Français"),
        ("audio-2", 2, 2, "audio", "Deutsch"),
        ("audio-51", 0, 6, "audio-mc", "English 5.1"),
        ("audio-2-51", 2, 6, "audio-mc", "Deutsch 5.1"),
    ]
    assert renditions[3].bitrate > renditions[0].bitrate


def test_leaving_out_the_default_track_passes_the_default_on() -> None:
    renditions = plan_audio([_track(0, "eng", channels=6), _track(1, "fra", channels=6)])
    kept = without_tracks(renditions, [0])
    assert [(r.name, r.source_index, r.default) for r in kept] == [("audio", 1, True), ("audio-51", 1, True)]
    assert without_tracks(renditions, [1]) == tuple(r for r in renditions if r.source_index == 0)
    assert without_tracks(renditions, [0, 1]) == ()


TARGET = LoudnessTarget()


@pytest.mark.parametrize(
    ("measured", "expected"),
    [
        (
            Loudness(-23.456, -4.0, 6.5, -33.5),
            (
                ("I", "-16"),
                ("TP", "-1"),
                ("LRA", "11"),
                ("measured_I", "-23.46"),
                ("measured_TP", "-4.00"),
                ("measured_LRA", "6.50"),
                ("measured_thresh", "-33.50"),
                ("linear", "true"),
            ),
        ),
        (Loudness(None, None, 0.0, -70.0), ()),  # silence: nothing to normalise
        (Loudness(-75.0, -60.0, 0.0, -85.0), ()),  # below the absolute gate: noise, left alone
        (Loudness(-20.0, None, 1.0, -30.0), ()),
    ],
)
def test_loudnorm_second_pass_options(measured: Loudness, expected: tuple[tuple[str, str], ...]) -> None:
    assert normalise_options(measured, TARGET) == expected


@pytest.mark.parametrize(
    ("measured", "gain", "dynamic"),
    [
        (Loudness(-24.0, -12.0, 6.5, -34.0), 8.0, False),  # up 8 dB: the true peak reaches -4 dBTP, under -1
        (Loudness(-10.5, -0.2, 9.0, -20.5), -5.5, False),  # down: always within the ceiling
        (Loudness(-20.0, -5.0, 0.0, -30.0), 4.0, False),  # exactly at the ceiling; a steady tone's range of 0 LU
        (Loudness(-20.0, -4.99, 0.0, -30.0), None, True),  # 0.01 dB over the ceiling: loudnorm's dynamic mode
        (Loudness(-24.0, -12.0, 11.5, -34.0), None, True),  # a range wider than the target's: dynamic mode
        (Loudness(-24.0, -12.0, 11.0, -34.0), 8.0, False),  # exactly the target's range
        (Loudness(None, None, 0.0, -70.0), None, False),  # silence: left alone
        (Loudness(-75.0, -60.0, 0.0, -85.0), None, False),  # under the gate: left alone
        (Loudness(-20.0, None, 1.0, -30.0), None, False),  # no true peak measured: left alone
    ],
)
def test_a_linear_gain_where_it_reaches_the_target_within_the_ceiling(
    measured: Loudness, gain: float | None, dynamic: bool
) -> None:
    assert linear_gain(measured, TARGET) == (None if gain is None else pytest.approx(gain))
    assert bool(normalise_options(measured, TARGET)) is dynamic  # never both


def test_a_gain_moves_every_figure_but_the_range() -> None:
    assert after_gain(Loudness(-24.0, -12.0, 6.5, -34.0), 8.0) == Loudness(-16.0, -4.0, 6.5, -26.0)
    assert after_gain(Loudness(None, None, 0.0, None), 8.0) == Loudness(None, None, 0.0, None)


def test_the_output_is_known_without_measuring_it_unless_loudnorm_ran() -> None:
    measured = {
        "audio": Loudness(-24.0, -12.0, 6.5, -34.0),  # linear gain
        "audio-1": Loudness(-30.0, -10.0, 3.0, -40.0),  # dynamic mode
        "audio-2": Loudness(None, None, 0.0, -70.0),  # silence, left alone
    }
    renditions = with_loudnorm(plan_audio([_track(0), _track(1), _track(2), _track(3)]), measured, TARGET)
    assert [(r.gain, bool(r.loudnorm), r.normalised) for r in renditions] == [
        (pytest.approx(8.0), False, True),
        (None, True, True),
        (None, False, False),
        (None, False, False),  # no measurement (its stream did not decode)
    ]
    assert [known_output(r, measured) for r in renditions] == [
        Loudness(-16.0, -4.0, 6.5, -26.0),
        None,  # measured on the published rendition
        measured["audio-2"],
        None,
    ]
    # Normalisation off: what was measured is what is published.
    plain = plan_audio([_track(0)])
    assert known_output(plain[0], measured) == measured["audio"]


def test_targets_from_settings_reach_loudnorm() -> None:
    target = LoudnessTarget(-23.0, -2.0, 7.0)
    options = dict(normalise_options(Loudness(-30.0, -5.0, 3.0, -40.0), target))
    assert (options["I"], options["TP"], options["LRA"]) == ("-23", "-2", "7")
    assert linear_gain(Loudness(-30.0, -9.0, 3.0, -40.0), target) == pytest.approx(7.0)
    renditions = with_loudnorm(
        plan_audio([_track(0), _track(1)]), {"audio": Loudness(-30.0, -10.0, 3.0, -40.0)}, TARGET
    )
    assert dict(renditions[0].loudnorm)["measured_I"] == "-30.00" and renditions[1].loudnorm == ()


def test_the_measuring_pass_reads_each_input_once_and_names_each_measurement() -> None:
    argv = measure_argv([("src.mp4", "a:0", "stereo"), ("src.mp4", "a:0", "5.1"), ("src.mp4", "a:3", None)], "ffmpeg")
    assert argv.count("-i") == 1 and argv[argv.index("-i") + 1] == "src.mp4"
    graph = argv[argv.index("-filter_complex") + 1].split(";")
    assert graph == [
        "[0:a:0]aformat=channel_layouts=stereo,ebur128@t0=peak=true:framelog=verbose[m0]",
        "[0:a:0]aformat=channel_layouts=5.1,ebur128@t1=peak=true:framelog=verbose[m1]",
        "[0:a:3]ebur128@t2=peak=true:framelog=verbose[m2]",
    ]
    assert argv[argv.index("-loglevel") + 1] == "info"  # where ebur128 logs its summary
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-map"] == ["[m0]", "[m1]", "[m2]"]


# As ffmpeg 9's ebur128 logs it (two meters, the first over silence), and an output that got nothing.
_STDERR = """[ebur128@t1 @ 0x7fc1640032c0] Summary:

  Integrated loudness:
    I:         -70.0 LUFS
    Threshold:   0.0 LUFS

  Loudness range:
    LRA:         0.0 LU
    Threshold:   0.0 LUFS
    LRA low:     0.0 LUFS
    LRA high:    0.0 LUFS

  True peak:
    Peak:       -inf dBFS
[ebur128@t0 @ 0x7fc164002e00] Summary:

  Integrated loudness:
    I:         -17.4 LUFS
    Threshold: -32.6 LUFS

  Loudness range:
    LRA:        22.5 LU
    Threshold: -43.0 LUFS
    LRA low:   -39.0 LUFS
    LRA high:  -16.6 LUFS

  True peak:
    Peak:       -2.8 dBFS
[out#1/null @ 0x55e7] Nothing was written into output file, because at least one of its streams received no packets.
"""


def test_measurements_are_read_back_in_input_order_and_an_empty_output_is_no_measurement() -> None:
    assert parse_measurements(_STDERR, 3) == [Loudness(-17.4, -2.8, 22.5, -32.6), None, None]
    silent = _STDERR.replace("[out#1/null", "[out#7/null")
    assert parse_measurements(silent, 2) == [Loudness(-17.4, -2.8, 22.5, -32.6), Loudness(None, None, 0.0, None)]
    assert Loudness(None, None, 0.0, None).silent
    assert parse_measurements("garbage Summary: I: LUFS", 1) == [None]
    assert parse_measurements(_STDERR.replace("LRA:        22.5 LU", "LRA: gone"), 1) == [None]


def test_track_records_say_what_was_measured_and_published() -> None:
    renditions = with_loudnorm(plan_audio([_track(0, "eng")]), {"audio": Loudness(-30.0, -10.0, 3.0, -40.0)}, TARGET)
    records = track_records(
        renditions, {"audio": Loudness(-30.0, -10.0, 3.0, -40.0)}, [Loudness(-16.1, -9.0, 2.0, -26.0)]
    )
    assert records == [
        {
            "name": "audio",
            "language": "en",
            "label": "English",
            "channels": 2,
            "default": True,
            "role": "main",
            "normalised": True,
            "input_loudness": {"integrated": -30.0, "true_peak": -10.0, "lra": 3.0},
            "output_loudness": {"integrated": -16.1, "true_peak": -9.0, "lra": 2.0},
        }
    ]


@pytest.mark.parametrize("measured", [Loudness(-30.0, -10.0, 3.0, -40.0), Loudness(-24.0, -12.0, 6.5, -34.0)])
def test_renditions_round_trip_through_a_split_jobs_json(measured: Loudness) -> None:
    rendition = with_loudnorm(plan_audio([_track(0)]), {"audio": measured}, TARGET)[0]
    assert rendition.normalised and AudioRendition.from_json(rendition.as_json()) == rendition


def test_measurements_survive_the_split_jobs_hand_over() -> None:
    measured = {"audio": Loudness(-27.5, -8.25, 4.0, -38.0), "audio-1": Loudness(None, None, None, None)}
    assert load_measured(dump_measured(measured)) == measured


@pytest.mark.parametrize("data", [b"", b"[]", b'{"audio": 1}', b'{"audio": {"integrated": -1}}', b'{"a": {"x": 1}}'])
def test_a_damaged_hand_over_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        load_measured(data)
