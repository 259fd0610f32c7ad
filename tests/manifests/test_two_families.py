"""A ladder of two codec families (H.264 and AV1 rungs of the same sizes): HLS master, DASH MPD, the
validator and the delivery-time rung filter. Pure: measured-looking tracks, no media."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

import m3u8
import pytest

from manifests import dash, hls
from manifests.errors import ManifestInvalid, TrackUnrenderable
from manifests.model import Track
from manifests.rewrite import EmptySelection, select_dash_rungs, select_hls_rungs
from manifests.subtitles import SubtitleTrack, add_to_mpd
from manifests.validate import validate_package
from manifests.validate_dash import check_mpd
from tests.manifests.manifest_samples import audio, video

NS = {"d": dash.NAMESPACE}
AV1_CODECS = {360: "av01.0.04M.08", 540: "av01.0.05M.08"}


def av1(track: Track, *, factor: float = 0.6) -> Track:
    """The AV1 rung beside `track`: same size and segment grid, fewer bytes."""
    segments = tuple(replace(s, size=int(s.size * factor)) for s in track.segments)
    codecs = AV1_CODECS[track.height or 0]
    return replace(track, name=f"{track.name}-av1", codecs=codecs, segments=segments)


def two_families() -> tuple[list[Track], list[Track]]:
    h264 = [video("360p", height=360), video("540p", height=540, bytes_per_second=250_000)]
    return [*h264, *(av1(t) for t in h264)], [audio()]


def package(videos: list[Track], audios: list[Track]) -> tuple[str, dict[str, str], str, set[str]]:
    media = {t.playlist_uri: hls.render_media(t) for t in [*videos, *audios]}
    media |= {t.iframe_playlist_uri: hls.render_iframes(t) for t in videos}
    known = {f"{t.name}/{u}" for t in [*videos, *audios] for u in [t.init_uri, *(s.uri for s in t.segments)]}
    known |= set(media)
    mpd = dash.render_mpd(videos, audios, duration=max(v.duration for v in videos))
    return hls.render_master(videos, audios), media, mpd, known


def test_master_lists_both_families_each_with_its_own_codecs_and_the_shared_audio() -> None:
    videos, audios = two_families()
    master = m3u8.loads(hls.render_master(videos, audios))
    declared = {v.uri: (v.stream_info.codecs, v.stream_info.audio) for v in master.playlists}
    assert declared == {
        "360p/index.m3u8": ("avc1.64001e,mp4a.40.2", "audio"),
        "540p/index.m3u8": ("avc1.64001f,mp4a.40.2", "audio"),
        "360p-av1/index.m3u8": ("av01.0.04M.08,mp4a.40.2", "audio"),
        "540p-av1/index.m3u8": ("av01.0.05M.08,mp4a.40.2", "audio"),
    }
    # Ascending peak bandwidth over both families (the cheaper AV1 rung of a size comes first).
    peaks = [v.stream_info.bandwidth for v in master.playlists]
    assert peaks == sorted(peaks)
    assert [v.uri for v in master.playlists][:2] == ["360p-av1/index.m3u8", "360p/index.m3u8"]
    # Trick play per family: each I-frame playlist carries its rung's codec, never the other family's.
    assert {i.uri: i.iframe_stream_info.codecs for i in master.iframe_playlists} == {
        "360p/iframes.m3u8": "avc1.64001e",
        "540p/iframes.m3u8": "avc1.64001f",
        "360p-av1/iframes.m3u8": "av01.0.04M.08",
        "540p-av1/iframes.m3u8": "av01.0.05M.08",
    }
    assert [m.uri for m in master.media] == ["audio/index.m3u8"]


def test_mpd_has_one_video_set_per_family() -> None:
    videos, audios = two_families()
    root = ET.fromstring(dash.render_mpd(videos, audios, duration=9.5))
    sets = root.findall("d:Period/d:AdaptationSet", NS)
    reps = [[(r.get("id"), r.get("codecs")) for r in a.findall("d:Representation", NS)] for a in sets]
    assert reps[0] == [("360p", "avc1.64001e"), ("540p", "avc1.64001f")]  # H.264 first
    assert reps[1] == [("360p-av1", "av01.0.04M.08"), ("540p-av1", "av01.0.05M.08")]
    assert [a.get("maxHeight") for a in sets[:2]] == ["540", "540"]


def _families(names: str) -> list[Track]:
    h264 = [video("360p", height=360), video("540p", height=540, bytes_per_second=250_000)]
    return {"": [], "h264": h264, "av1": [av1(t) for t in h264], "both": [*h264, *(av1(t) for t in h264)]}[names]


@pytest.mark.parametrize(
    ("families", "languages", "expected"),
    [
        ("h264", ("en",), [("0", "video"), ("1", "audio"), ("2", "text")]),
        ("both", ("en",), [("0", "video"), ("1000", "video"), ("1", "audio"), ("2", "text")]),
        ("av1", ("en",), [("1000", "video"), ("1", "audio"), ("2", "text")]),
        ("h264", ("en", "fr"), [("0", "video"), ("1", "audio"), ("2", "audio"), ("3", "text")]),
        ("both", ("en", "fr"), [("0", "video"), ("1000", "video"), ("1", "audio"), ("2", "audio"), ("3", "text")]),
        ("", ("en", "fr"), [("1", "audio"), ("2", "audio"), ("3", "text")]),
        ("both", (), [("0", "video"), ("1000", "video"), ("1", "text")]),
    ],
)
def test_adaptation_set_ids_are_stable_whatever_video_families_are_listed(
    families: str, languages: tuple[str, ...], expected: list[tuple[str, str]]
) -> None:
    """Players and caches key on the ids: a set keeps its id with AV1 on or off (audio and text too)."""
    audios = [audio(f"audio-{lang}", language=lang) for lang in languages]
    mpd = dash.render_mpd(_families(families), audios, duration=9.5)
    with_text = add_to_mpd(mpd, [SubtitleTrack("sub-en-1", "en", "English", "s/index.m3u8", "s/full.vtt")])
    sets = ET.fromstring(with_text).findall("d:Period/d:AdaptationSet", NS)
    assert [(a.get("id"), a.get("contentType")) for a in sets] == expected
    assert check_mpd(mpd) == []


def test_a_video_family_without_a_set_id_is_refused() -> None:
    hevc = replace(video("360p", height=360), codecs="hvc1.1.6.L90.B0")
    with pytest.raises(TrackUnrenderable, match="'hvc1'"):
        dash.render_mpd([hevc], [audio()], duration=9.5)


def test_two_family_package_validates() -> None:
    videos, audios = two_families()
    master, media, mpd, known = package(videos, audios)
    validate_package(master, media, tracks=[*videos, *audios], known_uris=known, mpd_text=mpd)


def test_validator_refuses_an_av1_rung_cut_off_the_h264_grid() -> None:
    videos, audios = two_families()
    shifted = video("540p", height=540, durations=(2.0, 2.5, 1.5, 2.0, 1.5))
    videos[3] = av1(shifted)
    master, media, mpd, known = package(videos, audios)
    with pytest.raises(ManifestInvalid) as caught:
        validate_package(master, media, tracks=[*videos, *audios], known_uris=known, mpd_text=mpd)
    problems = caught.value.problems
    assert any(p.startswith("540p-av1/index.m3u8: segment 2 ends at 4.500") for p in problems), problems
    assert any("cut differently" in p for p in problems), problems  # within the AV1 set


def test_dash_validator_refuses_sets_cut_at_different_instants() -> None:
    h264 = [video("360p", height=360)]
    shifted = av1(video("360p", height=360, durations=(2.0, 2.5, 1.5, 2.0, 1.5)))
    mpd = dash.render_mpd([*h264, shifted], [audio()], duration=9.0)
    assert check_mpd(mpd) == [
        "video AdaptationSets AdaptationSet 0 (video), AdaptationSet 1000 (video) are cut at different instants"
    ]


def test_dash_validator_refuses_a_set_mixing_families() -> None:
    videos, audios = two_families()
    mpd = dash.render_mpd(videos, audios, duration=9.5).replace('codecs="avc1.64001f"', 'codecs="av01.0.05M.08"')
    assert check_mpd(mpd) == ["AdaptationSet 0 (video): mixes codec families ['av01', 'avc1']"]


def test_rung_filter_may_empty_one_family_but_not_all() -> None:
    videos, audios = two_families()
    master, _, mpd, _ = package(videos, audios)
    h264_only = select_dash_rungs(mpd, lambda r: not r.name.endswith("-av1"))
    sets = ET.fromstring(h264_only).findall("d:Period/d:AdaptationSet", NS)
    assert [a.get("contentType") for a in sets] == ["video", "audio"]
    assert check_mpd(h264_only) == []
    low = select_hls_rungs(master, lambda r: (r.height or 0) <= 360)
    assert [v.uri for v in m3u8.loads(low).playlists] == ["360p-av1/index.m3u8", "360p/index.m3u8"]
    with pytest.raises(EmptySelection):
        select_dash_rungs(mpd, lambda r: False)
