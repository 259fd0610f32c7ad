"""Subtitle and caption tracks added to a rendered multivariant playlist and MPD. Pure: text in, text out.

Applied to the published texts rather than inside render_master / render_mpd, so that a track uploaded,
replaced or deleted after the asset is ready changes the two entry points without the measured tracks
they were rendered from. Idempotent: whatever subtitle entries the texts held are replaced by `tracks`.

HLS (RFC 8216 4.4.6.1): one EXT-X-MEDIA TYPE=SUBTITLES per track in one group, named by SUBTITLES= on
every variant; captions (kind "captions", for the deaf and hard of hearing) carry Apple's accessibility
CHARACTERISTICS. DASH: one text AdaptationSet per track holding a single WebVTT file (a Representation with
a BaseURL): the form dash.js and Shaka read as "sidecar" text, with a Role of subtitle, caption or
forced-subtitle.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

import m3u8

from manifests.dash import NAMESPACE

SUBTITLE_GROUP = "subs"
_CAPTION_CHARACTERISTICS = (
    "public.accessibility.transcribes-spoken-dialog,public.accessibility.describes-music-and-sound"
)
_ROLE_SCHEME = "urn:mpeg:dash:role:2011"
_NS = f"{{{NAMESPACE}}}"


@dataclass(frozen=True)
class SubtitleTrack:
    id: str  # stable per track and version, e.g. "sub-en-3": the DASH Representation id
    language: str  # BCP 47
    name: str  # what a player's menu shows
    playlist_uri: str  # segmented WebVTT media playlist, relative to the multivariant playlist
    file_uri: str  # the whole track as one WebVTT file, relative to the MPD
    kind: str = "subtitles"  # "subtitles" | "captions"
    default: bool = False
    forced: bool = False


def add_to_master(text: str, tracks: Sequence[SubtitleTrack]) -> str:
    """`text` (a multivariant playlist) with exactly `tracks` as its subtitles (none: no group)."""
    playlist = m3u8.loads(text)
    kept = [m for m in playlist.media if (m.type or "").upper() != "SUBTITLES"]
    playlist.media = m3u8.MediaList()
    for media in kept:
        playlist.media.append(media)
    names: set[str] = set()
    default_index = next((i for i, t in enumerate(tracks) if t.default), None)
    for index, track in enumerate(tracks):
        name = track.name
        serial = 2
        while name in names:  # NAME must be unique within the group
            name, serial = f"{track.name} ({serial})", serial + 1
        names.add(name)
        playlist.media.append(
            m3u8.Media(
                uri=track.playlist_uri,
                type="SUBTITLES",
                group_id=SUBTITLE_GROUP,
                language=track.language,
                name=name,
                default="YES" if index == default_index else "NO",
                # AUTOSELECT=YES lets a player pick the track matching its user's language preferences.
                autoselect="YES",
                forced="YES" if track.forced and track.kind == "subtitles" else None,
                characteristics=_CAPTION_CHARACTERISTICS if track.kind == "captions" else None,
            )
        )
    subtitles = [m for m in playlist.media if m.type == "SUBTITLES"]
    for variant in playlist.playlists:
        # m3u8 writes a variant's AUDIO=/SUBTITLES= from the renditions it links (its `media`).
        variant.media = [m for m in variant.media if (m.type or "").upper() != "SUBTITLES"] + subtitles
        variant.stream_info.subtitles = SUBTITLE_GROUP if tracks else None
    return str(playlist.dumps())


def add_to_mpd(text: str, tracks: Sequence[SubtitleTrack]) -> str:
    """`text` (an MPD) with exactly `tracks` as its text AdaptationSets (one per track)."""
    root = ET.fromstring(text)
    # Back to the unprefixed form render_mpd writes (ElementTree would name the namespace "ns0").
    for element in root.iter():
        if element.tag.startswith(_NS):
            element.tag = element.tag[len(_NS) :]
    root.set("xmlns", NAMESPACE)
    period = root.find("Period")
    if period is None:
        raise ValueError("an MPD without a Period")
    for adaptation in period.findall("AdaptationSet"):
        if adaptation.get("contentType") == "text":
            period.remove(adaptation)
    # Text sets follow the audio sets: video sets have fixed ids of their own (manifests.dash.VIDEO_SET_IDS),
    # which must not move the text ids when another codec family is listed.
    used = {
        int(a.get("id", "0"))
        for a in period.findall("AdaptationSet")
        if a.get("contentType") != "video" and a.get("id", "").isdigit()
    }
    next_id = max(used, default=0) + 1
    for offset, track in enumerate(tracks):
        adaptation = ET.SubElement(
            period,
            "AdaptationSet",
            {"id": str(next_id + offset), "contentType": "text", "mimeType": "text/vtt", "lang": track.language},
        )
        ET.SubElement(adaptation, "Label").text = track.name
        role = "caption" if track.kind == "captions" else "forced-subtitle" if track.forced else "subtitle"
        ET.SubElement(adaptation, "Role", {"schemeIdUri": _ROLE_SCHEME, "value": role})
        if track.default:
            ET.SubElement(adaptation, "Role", {"schemeIdUri": _ROLE_SCHEME, "value": "main"})
        # A sidecar file is a few kB; the bandwidth only has to be present and small.
        representation = ET.SubElement(adaptation, "Representation", {"id": track.id, "bandwidth": "256"})
        ET.SubElement(representation, "BaseURL").text = track.file_uri
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
