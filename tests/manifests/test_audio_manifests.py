"""Several audio tracks in the manifests: HLS AUDIO groups (a multichannel one with variants duplicated),
DASH AdaptationSets with roles, and what the validator refuses of them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

import m3u8
import pytest

from manifests import dash, hls
from manifests.errors import ManifestInvalid
from manifests.model import Track
from manifests.validate import validate_package
from manifests.validate_audio import group_problems, timing_problems
from tests.manifests.manifest_samples import audio, video

_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


def _tracks() -> tuple[list[Track], list[Track]]:
    english = replace(audio("audio"), label="English", default=True, source=0)
    french = replace(audio("audio-1", language="fr"), label="Français", source=1)
    commentary = replace(audio("audio-2"), label="Commentary", role="commentary", autoselect=False, source=2)
    described = replace(
        audio("audio-3"),
        label="English (audio description)",
        role="description",
        characteristics="public.accessibility.describes-video",
        source=3,
    )
    surround = replace(audio("audio-1-51", language="fr"), label="Français 5.1", channels=6, group="audio-mc", source=1)
    return [video("180p", height=180), video("360p")], [english, french, commentary, described, surround]


def _package(videos: list[Track], audios: list[Track]) -> tuple[str, dict[str, str]]:
    master = hls.render_master(videos, audios)
    media = {t.playlist_uri: hls.render_media(t) for t in [*videos, *audios]}
    media.update({v.iframe_playlist_uri: hls.render_iframes(v) for v in videos})
    return master, media


def test_every_track_is_in_the_stereo_group_and_the_multichannel_group_offers_each_language() -> None:
    videos, audios = _tracks()
    master_text, media = _package(videos, audios)
    validate_package(master_text, media, tracks=[*videos, *audios])
    master = m3u8.loads(master_text)
    groups: dict[str, list[tuple[str, str, str, str, str | None, str | None]]] = {}
    for m in master.media:
        groups.setdefault(m.group_id, []).append(
            (m.uri, m.name, m.default, m.autoselect, m.characteristics, m.channels)
        )
    assert groups["audio"] == [
        ("audio/index.m3u8", "English", "YES", "YES", None, "2"),
        ("audio-1/index.m3u8", "Français", "NO", "YES", None, "2"),
        ("audio-2/index.m3u8", "Commentary", "NO", "NO", None, "2"),
        ("audio-3/index.m3u8", "English (audio description)", "NO", "YES", "public.accessibility.describes-video", "2"),
    ]
    # French has its 5.1 there; the others are offered in stereo, so every group has every language.
    assert [(uri, channels) for uri, *_, channels in groups["audio-mc"]] == [
        ("audio/index.m3u8", "2"),
        ("audio-1-51/index.m3u8", "6"),
        ("audio-2/index.m3u8", "2"),
        ("audio-3/index.m3u8", "2"),
    ]
    # Each rung once per group.
    assert sorted((p.uri, p.stream_info.audio) for p in master.playlists) == [
        ("180p/index.m3u8", "audio"),
        ("180p/index.m3u8", "audio-mc"),
        ("360p/index.m3u8", "audio"),
        ("360p/index.m3u8", "audio-mc"),
    ]
    assert len(master.iframe_playlists) == 2


def test_the_mpd_has_one_adaptation_set_per_track_with_its_role_and_label() -> None:
    videos, audios = _tracks()
    mpd = ET.fromstring(dash.render_mpd(videos, audios, duration=9.5))
    sets = [a for a in mpd.iterfind("d:Period/d:AdaptationSet", _NS) if a.get("contentType") == "audio"]
    described = {
        (
            a.get("lang"),
            a.findtext("d:Label", namespaces=_NS),
            a.find("d:Role", _NS).get("value"),  # type: ignore[union-attr]
            tuple(r.get("id") for r in a.iterfind("d:Representation", _NS)),
        )
        for a in sets
    }
    assert described == {
        ("en", "English", "main", ("audio",)),
        ("en", "Commentary", "commentary", ("audio-2",)),
        ("en", "English (audio description)", "description", ("audio-3",)),
        ("fr", "Français", "main", ("audio-1", "audio-1-51")),
    }
    accessibility = [a.find("d:Accessibility", _NS) for a in sets]
    assert sum(1 for a in accessibility if a is not None and a.get("value") == "1") == 1


def _master(*media: str, resolution: str | None = None) -> dict[str, object]:
    text = "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n" + "".join(f"{m}\n" for m in media)
    size = f",RESOLUTION={resolution}" if resolution else ""
    text += f'#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="avc1.64001e"{size},AUDIO="a"\nv.m3u8\n'
    return m3u8.parse(text)


_EN = '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",LANGUAGE="en",NAME="English",DEFAULT=YES,AUTOSELECT=YES,URI="en.m3u8"'


@pytest.mark.parametrize(
    ("second", "problem"),
    [
        ('#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",LANGUAGE="fr",NAME="English",URI="fr.m3u8"', "is not unique"),
        (
            '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",LANGUAGE="fr",NAME="Fr",DEFAULT=YES,AUTOSELECT=YES,URI="fr.m3u8"',
            "2 renditions are DEFAULT=YES",
        ),
        (
            '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="b",LANGUAGE="fr",NAME="Fr",DEFAULT=YES,AUTOSELECT=NO,URI="fr.m3u8"',
            "DEFAULT=YES without AUTOSELECT=YES",
        ),
    ],
)
def test_audio_group_rules(second: str, problem: str) -> None:
    assert group_problems(_master(_EN)) == []
    found = group_problems(_master(_EN, second))
    assert len(found) == 1 and problem in found[0], found


def _media(*durations: float) -> dict[str, object]:
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2", "#EXT-X-VERSION:7"]
    lines += [f"#EXTINF:{d:.3f},\nseg_{i}.m4s" for i, d in enumerate(durations)]
    return m3u8.parse("\n".join([*lines, "#EXT-X-ENDLIST"]) + "\n")


@pytest.mark.parametrize(
    ("audio_durations", "problem", "video_durations"),
    [
        ((2.005, 2.005, 1.99), None, (2, 2, 2)),
        ((2.005, 2.005, 1.99, 0.005), None, (2, 2, 2)),  # AAC's last frames in a tiny segment of their own
        ((2.005, 2.005), "2 segments where v.m3u8 has 3", (2, 2, 2)),  # a track cut short
        ((2.005, 2.005, 0.09), None, (2, 2, 0.083)),  # the video's last segment is as short as the audio's
        ((2.005, 2.005), "2 segments where v.m3u8 has 3", (2, 2, 0.083)),  # the audio misses that segment
        ((2.0, 2.0, 1.0), "lasts 5.000 s where v.m3u8 lasts 6.000 s", (2, 2, 2)),
    ],
)
def test_every_audio_rendition_lasts_as_long_as_the_video(
    audio_durations: tuple[float, ...], problem: str | None, video_durations: tuple[float, ...]
) -> None:
    master = _master(_EN, resolution="320x180")  # a video variant: the audio is cut on its segments
    found = timing_problems(master, {"v.m3u8": _media(*video_durations), "en.m3u8": _media(*audio_durations)})
    if problem is None:
        assert found == []
    else:
        assert any(problem in f for f in found), found


def test_a_short_audio_track_fails_the_package() -> None:
    videos, audios = _tracks()
    short = replace(audios[1], segments=audios[1].segments[:2])
    master_text, media = _package(videos, [audios[0], short])
    with pytest.raises(ManifestInvalid, match="audio-1/index.m3u8: 2 segments where"):
        validate_package(master_text, media, tracks=[*videos, audios[0], short])
