"""An audio-only package (no video rungs): the HLS master lists one audio-only variant per AUDIO group
(CODECS mp4a.40.2 alone, no RESOLUTION), the MPD audio AdaptationSets only; the validator accepts them
and still refuses broken ones; delivery-time rung selection and clips handle them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

import m3u8
import pytest

from manifests import dash, hls
from manifests.clip import Window, clip_dash, clip_hls_master, clip_hls_media
from manifests.errors import EmptySelection, ManifestInvalid, TrackUnrenderable
from manifests.model import Track
from manifests.rewrite import select_dash_rungs, select_hls_rungs
from manifests.validate import check_master, validate_package
from manifests.validate_dash import check_mpd
from tests.manifests.manifest_samples import audio

_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
SECONDS = sum(s.duration for s in audio().segments)


def _half_rate(track: Track) -> Track:
    return replace(track, segments=tuple(replace(s, size=s.size // 2) for s in track.segments))


def _tracks() -> list[Track]:
    """Two source tracks (English, French), each at 128k (group "audio") and 64k (group "audio-64k")."""
    english = replace(audio("audio"), label="English", default=True, source=0)
    french = replace(audio("audio-1", language="fr"), label="Français", source=1)
    low = [replace(_half_rate(t), name=f"{t.name}-64k", group="audio-64k") for t in (english, french)]
    return [english, french, *low]


def _package(audios: list[Track]) -> tuple[str, dict[str, str], str]:
    master = hls.render_master([], audios)
    media = {t.playlist_uri: hls.render_media(t) for t in audios}
    return master, media, dash.render_mpd([], audios, duration=SECONDS)


def test_the_master_lists_one_audio_only_variant_per_group_lowest_first() -> None:
    audios = _tracks()
    master_text, media, mpd = _package(audios)
    validate_package(master_text, media, tracks=audios, known_uris=None, mpd_text=mpd)
    master = m3u8.loads(master_text)
    variants = [(p.uri, p.stream_info.audio, p.stream_info.codecs, p.stream_info.resolution) for p in master.playlists]
    assert variants == [
        ("audio-64k/index.m3u8", "audio-64k", "mp4a.40.2", None),
        ("audio/index.m3u8", "audio", "mp4a.40.2", None),
    ]
    assert "RESOLUTION" not in master_text and "FRAME-RATE" not in master_text
    low, high = master.playlists
    # BANDWIDTH is the group's largest member, counted once (the variant's own rendition is one of them).
    assert high.stream_info.bandwidth == pytest.approx(2 * low.stream_info.bandwidth, rel=0.01)
    assert high.stream_info.bandwidth == pytest.approx(16_000 * 8 * 1.0, rel=0.1)
    # Each group's default is the variant's own media: listed without a URI (RFC 8216 4.4.6.1).
    groups = {(m.group_id, m.uri, m.name, m.default) for m in master.media}
    assert groups == {
        ("audio", None, "English", "YES"),
        ("audio", "audio-1/index.m3u8", "Français", "NO"),
        ("audio-64k", None, "English", "YES"),
        ("audio-64k", "audio-1-64k/index.m3u8", "Français", "NO"),
    }
    assert not master.iframe_playlists


def test_the_mpd_has_audio_adaptation_sets_only_both_rates_in_each() -> None:
    audios = _tracks()
    root = ET.fromstring(dash.render_mpd([], audios, duration=SECONDS))
    sets = list(root.iterfind("d:Period/d:AdaptationSet", _NS))
    assert [(a.get("contentType"), a.get("lang")) for a in sets] == [("audio", "en"), ("audio", "fr")]
    reps = [sorted(r.get("id", "") for r in a.iterfind("d:Representation", _NS)) for a in sets]
    assert reps == [["audio", "audio-64k"], ["audio-1", "audio-1-64k"]]
    assert check_mpd(ET.tostring(root, encoding="unicode"), tracks=audios) == []


def _broken_masters() -> dict[str, str]:
    master, _, _ = _package(_tracks())
    variant = "#EXT-X-STREAM-INF:"
    return {
        "resolution on an audio variant": master.replace(variant, variant + "RESOLUTION=640x360,", 1),
        "bandwidth counted twice": master.replace(
            f"BANDWIDTH={m3u8.loads(master).playlists[1].stream_info.bandwidth},",
            f"BANDWIDTH={2 * m3u8.loads(master).playlists[1].stream_info.bandwidth},",
        ),
        "unknown group": master.replace('AUDIO="audio-64k"', 'AUDIO="nope"'),
        "no variant": _without_variants(master),
    }


def _without_variants(master: str) -> str:
    """The master without its EXT-X-STREAM-INF lines and the URI line after each."""
    lines, out = master.splitlines(), []
    skip = False
    for line in lines:
        if line.startswith("#EXT-X-STREAM-INF:"):
            skip = True
        elif skip:
            skip = False
        else:
            out.append(line)
    return "\n".join(out) + "\n"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("resolution on an audio variant", "name no video codec"),
        ("bandwidth counted twice", "is overstated"),
        ("unknown group", "which no EXT-X-MEDIA TYPE=AUDIO defines"),
        ("no variant", "no EXT-X-STREAM-INF variant"),
    ],
)
def test_broken_audio_only_masters_are_refused(name: str, problem: str) -> None:
    audios = _tracks()
    _, media, _ = _package(audios)
    with pytest.raises(ManifestInvalid, match=problem):
        validate_package(_broken_masters()[name], media, tracks=audios)


def test_an_mpd_without_any_adaptation_set_is_refused() -> None:
    root = ET.fromstring(dash.render_mpd([], _tracks(), duration=SECONDS))
    period = root.find("d:Period", _NS)
    assert period is not None
    for adaptation in list(period):
        period.remove(adaptation)
    assert "no AdaptationSet: nothing to play" in check_mpd(ET.tostring(root, encoding="unicode"))


def test_nothing_to_render_is_refused() -> None:
    with pytest.raises(TrackUnrenderable, match="at least one video or audio track"):
        dash.render_mpd([], [], duration=1.0)


def test_rung_selection_leaves_an_audio_only_package_playable() -> None:
    master, _, mpd = _package(_tracks())
    # The origin trims archived rungs by name: the 128k one cold, the 64k variant stays.
    kept = m3u8.loads(select_hls_rungs(master, lambda rung: rung.name != "audio"))
    assert [p.uri for p in kept.playlists] == ["audio-64k/index.m3u8"]
    with pytest.raises(EmptySelection):
        select_hls_rungs(master, lambda rung: False)
    # DASH selection edits video sets only: an audio-only MPD passes through whole.
    assert len(ET.fromstring(select_dash_rungs(mpd, lambda rung: False)).findall(".//d:Representation", _NS)) == 4
    assert check_master(master) == []


def test_a_clip_of_an_audio_only_package_is_cut_like_any_other() -> None:
    audios = _tracks()
    master, media, mpd = _package(audios)
    window = Window(2.5, 5.0)
    cut_master = clip_hls_master(master, {"start": "2.5", "end": "5"})
    assert all(p.uri.endswith("?start=2.5&end=5") for p in m3u8.loads(cut_master).playlists)
    cut = {uri: clip_hls_media(text, window) for uri, text in media.items()}
    validate_package(master, cut)
    assert {len(m3u8.loads(text).segments) for text in cut.values()} == {2}
    timelines = ET.fromstring(clip_dash(mpd, window)).findall(".//d:SegmentTemplate", _NS)
    assert [t.get("startNumber") for t in timelines] == ["2"] * 4
