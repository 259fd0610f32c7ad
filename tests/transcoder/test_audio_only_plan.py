"""Table tests of the audio-only plan: the ladder of a source without video, its ffmpeg argv, the
waveform's argv, and what the upload check's magic bytes take for audio containers. Pure."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.content import sniff_container
from media.probe import AudioTrackInfo
from transcoder.encode import commands
from transcoder.encode.audio import LOW_GROUP, MAIN_GROUP, MULTICHANNEL_GROUP, without_tracks
from transcoder.encode.ladder import plan_audio_only
from transcoder.encode.previews import plan_previews


def _track(index: int, channels: int = 2, language: str | None = None, **flags: bool) -> AudioTrackInfo:
    return AudioTrackInfo(index=index, codec="mp3", channels=channels, sample_rate=44100, language=language, **flags)


@pytest.mark.parametrize(
    ("tracks", "expected"),
    [
        pytest.param(
            [_track(0, channels=1)],
            [("audio", 0, 2, 128_000, MAIN_GROUP), ("audio-64k", 0, 2, 64_000, LOW_GROUP)],
            id="mono-stays-stereo-for-players",
        ),
        pytest.param(
            [_track(0, language="eng"), _track(1, language="fre")],
            [
                ("audio", 0, 2, 128_000, MAIN_GROUP),
                ("audio-1", 1, 2, 128_000, MAIN_GROUP),
                ("audio-64k", 0, 2, 64_000, LOW_GROUP),
                ("audio-1-64k", 1, 2, 64_000, LOW_GROUP),
            ],
            id="two-tracks-each-at-both-rates",
        ),
        pytest.param(
            [_track(0, channels=6)],
            [
                ("audio", 0, 2, 128_000, MAIN_GROUP),
                ("audio-51", 0, 6, 384_000, MULTICHANNEL_GROUP),
                ("audio-64k", 0, 2, 64_000, LOW_GROUP),
            ],
            id="surround-keeps-its-5.1",
        ),
        pytest.param(
            [_track(0, commentary=True), _track(1)],
            [
                ("audio-0", 0, 2, 128_000, MAIN_GROUP),
                ("audio", 1, 2, 128_000, MAIN_GROUP),
                ("audio-0-64k", 0, 2, 64_000, LOW_GROUP),
                ("audio-64k", 1, 2, 64_000, LOW_GROUP),
            ],
            id="the-default-is-not-the-commentary",
        ),
    ],
)
def test_the_audio_only_ladder(tracks: list[AudioTrackInfo], expected: list[tuple[str, int, int, int, str]]) -> None:
    ladder = plan_audio_only(tracks)
    assert ladder.rungs == ()
    renditions = ladder.audio_renditions()
    assert [(r.name, r.source_index, r.channels, r.bitrate, r.group) for r in renditions] == expected
    # One default per group, the same source track's.
    defaults = {(r.group, r.source_index) for r in renditions if r.default}
    assert len(defaults) == len({r.group for r in renditions}) and len({s for _, s in defaults}) == 1


def test_no_track_no_ladder() -> None:
    with pytest.raises(ValueError, match="at least one audio track"):
        plan_audio_only([])


def test_a_broken_default_track_hands_both_its_names_over() -> None:
    ladder = plan_audio_only([_track(0), _track(1)])
    kept = without_tracks(ladder.audio, [0])
    assert [(r.name, r.default) for r in kept] == [("audio", True), ("audio-64k", True)]


def test_the_audio_only_encode_maps_no_video_and_splits_each_track_once(tmp_path: Path) -> None:
    ladder = plan_audio_only([_track(0), _track(1)])
    plan = commands.EncodePlan(
        source="song.mp3", out_dir=tmp_path, ladder=ladder, segment_seconds=4.0, interlaced=False, audio_duration=5.0
    )
    argv = commands.encode_ladder(plan, "ffmpeg")
    graph = argv[argv.index("-filter_complex") + 1]
    assert "0:v" not in graph and "libx264" not in argv and "split" not in graph.replace("asplit", "")
    # 64k and 128k of a track share one chain (loudnorm runs once per track), split in two.
    assert graph.count("asplit=2") == 2 and graph.count("[0:a:0]") == 1 and graph.count("[0:a:1]") == 1
    assert argv.count("aac") == 4 and sorted(argv[i + 1] for i, a in enumerate(argv) if a == "-b:a") == [
        "128000",
        "128000",
        "64000",
        "64000",
    ]
    assert {str(d.relative_to(tmp_path)) for d in commands.output_dirs(plan)} == {
        "audio",
        "audio-1",
        "audio-64k",
        "audio-1-64k",
    }


def test_the_waveform_argv(tmp_path: Path) -> None:
    argv = commands.waveform("song.mp3", tmp_path / "waveform.png", 1, "ffmpeg")
    graph = argv[argv.index("-filter_complex") + 1]
    assert graph.startswith("[0:a:1]aformat=channel_layouts=mono")
    assert "showwavespic=colors=0x3b82f6:s=1280x240" in graph
    assert str(tmp_path / "waveform.png") in argv and "-frames:v" in argv


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "mp3"),
        (b"\xff\xfb\x90\x64\x00", "mp3"),  # MPEG-1 layer III frame, no tag
        (b"OggS\x00\x02", "ogg"),
        (b"\x00\x00\x00\x20ftypM4A ", "isobmff"),  # m4a
        (b"\xff\xf1\x50\x80", None),  # ADTS AAC: layer bits 00, not an MPEG audio frame
        (b"RIFF\x24\x00\x00\x00RMID", None),
        (b"fLa", None),
    ],
)
def test_audio_containers_pass_the_magic_bytes(head: bytes, expected: str | None) -> None:
    assert sniff_container(head) == expected


def test_a_split_jobs_whole_part_still_maps_the_video_for_its_storyboard(tmp_path: Path) -> None:
    """No rungs is not audio-only by itself: the whole part of a split job has no rungs but makes the
    storyboard tiles from the video (tests/transcoder/test_split.py runs it)."""
    ladder = plan_audio_only([_track(0)])
    plan = commands.EncodePlan(
        source="clip.mp4",
        out_dir=tmp_path,
        ladder=ladder,
        segment_seconds=4.0,
        interlaced=False,
        previews=plan_previews(20.0, 320, 180),
    )
    graph = commands.encode_ladder(plan, "ffmpeg")
    assert any("[0:v]" in a for a in graph) and "libx264" not in graph
