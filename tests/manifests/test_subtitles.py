"""Subtitle tracks added to, replaced in and removed from a rendered master and MPD."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import m3u8

from manifests import dash, hls
from manifests.subtitles import SUBTITLE_GROUP, SubtitleTrack, add_to_master, add_to_mpd
from manifests.validate import check_master
from manifests.validate_dash import check_mpd
from tests.manifests.manifest_samples import ladder

EN = SubtitleTrack("sub-en-1", "en", "English", "subs/en/v1/index.m3u8", "subs/en/v1/full.vtt", kind="captions")
FR = SubtitleTrack("sub-fr-2", "fr", "Français", "subs/fr/v2/index.m3u8", "subs/fr/v2/full.vtt", default=True)
NS = {"d": dash.NAMESPACE}


def _master() -> str:
    videos, audios = ladder()
    return hls.render_master(videos, audios)


def _mpd() -> str:
    videos, audios = ladder()
    return dash.render_mpd(videos, audios, duration=9.5)


def test_master_gets_a_subtitle_group_on_every_variant() -> None:
    text = add_to_master(_master(), [EN, FR])
    assert check_master(text) == []
    playlist = m3u8.loads(text)
    subs = [m for m in playlist.media if m.type == "SUBTITLES"]
    assert [(m.language, m.name, m.uri, m.default) for m in subs] == [
        ("en", "English", EN.playlist_uri, "NO"),
        ("fr", "Français", FR.playlist_uri, "YES"),
    ]
    assert subs[0].characteristics and "transcribes-spoken-dialog" in subs[0].characteristics
    assert [m for m in playlist.media if m.type == "AUDIO"]  # the audio group is kept
    assert playlist.playlists and all(v.stream_info.subtitles == SUBTITLE_GROUP for v in playlist.playlists)


def test_replacing_and_removing_is_idempotent() -> None:
    once = add_to_master(_master(), [EN, FR])
    replaced = add_to_master(once, [FR])
    assert "subs/en/" not in replaced and replaced.count("TYPE=SUBTITLES") == 1
    assert add_to_master(replaced, [FR]) == replaced
    removed = add_to_master(replaced, [])
    assert "SUBTITLES" not in removed
    assert removed == add_to_master(_master(), [])


def test_duplicate_names_are_told_apart() -> None:
    text = add_to_master(_master(), [EN, EN.__class__(**{**EN.__dict__, "id": "x", "playlist_uri": "b/index.m3u8"})])
    names = [m.name for m in m3u8.loads(text).media if m.type == "SUBTITLES"]
    assert names == ["English", "English (2)"]


def test_mpd_gets_one_text_adaptation_set_per_track() -> None:
    text = add_to_mpd(_mpd(), [EN, FR])
    root = ET.fromstring(text)
    assert root.tag == f"{{{dash.NAMESPACE}}}MPD"
    texts = root.findall("d:Period/d:AdaptationSet[@contentType='text']", NS)
    assert [(a.get("lang"), a.get("mimeType"), a.findtext("d:Label", namespaces=NS)) for a in texts] == [
        ("en", "text/vtt", "English"),
        ("fr", "text/vtt", "Français"),
    ]
    assert [r.get("value") for r in texts[0].findall("d:Role", NS)] == ["caption"]
    assert [r.get("value") for r in texts[1].findall("d:Role", NS)] == ["subtitle", "main"]
    assert texts[1].findtext("d:Representation/d:BaseURL", namespaces=NS) == FR.file_uri
    ids = [a.get("id") for a in root.findall("d:Period/d:AdaptationSet", NS)]
    assert len(ids) == len(set(ids))
    # The media AdaptationSets are untouched: the MPD still passes the checks with the texts removed.
    assert add_to_mpd(add_to_mpd(text, [FR]), []) == add_to_mpd(_mpd(), [])
    assert check_mpd(add_to_mpd(text, [])) == []
