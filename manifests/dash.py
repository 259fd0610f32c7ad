"""A static DASH MPD over the same CMAF segments the HLS playlists list.

One set of fMP4 files serves both protocols: the MPD addresses them with a SegmentTemplate
(`$RepresentationID$/seg_$Number%05d$.m4s`) and an explicit SegmentTimeline, because the
last segment is short and audio segments are not exactly 2 s (AAC frames are 1024 samples):
a `duration`-only template would drift from the media.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from fractions import Fraction
from itertools import groupby

from manifests import bandwidth
from manifests.errors import TrackUnrenderable
from manifests.model import Track

NAMESPACE = "urn:mpeg:dash:schema:mpd:2011"
PROFILE = "urn:mpeg:dash:profile:isoff-live:2011"
INIT_TEMPLATE = "$RepresentationID$/init.mp4"
MEDIA_TEMPLATE = "$RepresentationID$/seg_$Number%05d$.m4s"
START_NUMBER = 1
_CHANNELS_SCHEME = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
_ROLE_SCHEME = "urn:mpeg:dash:role:2011"
_AUDIO_PURPOSE_SCHEME = "urn:tva:metadata:cs:AudioPurposeCS:2007"

# AdaptationSet ids by what the set holds, the same whatever else the MPD lists (players and caches key on
# them: dash.js keeps a viewer's audio choice by set, a CDN's rung filter and the captions added later by
# manifests.subtitles keep the ids they find). H.264 video is 0, audio sets 1, 2, ... by language, text after
# audio; every other video family has an id of its own far above those (an MPD lists a handful of tracks).
VIDEO_SET_IDS = {"avc1": 0, "av01": 1000}
FIRST_AUDIO_SET_ID = 1


def render_mpd(videos: Sequence[Track], audios: Sequence[Track], *, duration: float) -> str:
    """A static isoff-live MPD: one video AdaptationSet per codec family (H.264 first; none for audio-only),
    one audio AdaptationSet per language, with the ids of VIDEO_SET_IDS and from FIRST_AUDIO_SET_ID.
    Raises TrackUnrenderable for a video codec family without an id there."""
    if not videos and not audios:
        raise TrackUnrenderable("an MPD needs at least one video or audio track")
    for track in (*videos, *audios):
        _check_template(track)
    buffer_seconds = max(bandwidth.target_duration(t.segments) for t in (*videos, *audios))
    mpd = ET.Element(
        "MPD",
        {
            "xmlns": NAMESPACE,
            "profiles": PROFILE,
            "type": "static",
            "mediaPresentationDuration": iso_duration(duration),
            # one segment of buffer is what the declared (peak) bandwidth guarantees
            "minBufferTime": iso_duration(buffer_seconds),
        },
    )
    period = ET.SubElement(mpd, "Period", {"id": "0", "start": "PT0S"})

    # One video AdaptationSet per codec family (avc1, av01, ...): a player switches only within a set,
    # so it picks the family it decodes (DASH-IF IOP) and never switches codecs mid-stream.
    families = sorted({codec_family(t.codecs) for t in videos}, key=lambda f: (f != "avc1", f))
    for family in families:
        if family not in VIDEO_SET_IDS:
            raise TrackUnrenderable(f"no DASH AdaptationSet id for video codec family {family!r}")
        _add_video_set(period, VIDEO_SET_IDS[family], [t for t in videos if codec_family(t.codecs) == family])
    _add_audio_sets(period, audios, first_id=FIRST_AUDIO_SET_ID)
    ET.indent(mpd)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(mpd, encoding="unicode") + "\n"


def _add_audio_sets(period: ET.Element, audios: Sequence[Track], *, first_id: int) -> None:
    # One AdaptationSet per source track (its stereo and multichannel renditions are the same content):
    # a language of one track is one set; a second language, a commentary or a description its own.
    by_track = groupby(sorted(audios, key=lambda t: (t.language, t.source)), key=lambda t: (t.language, t.source))
    for index, ((language, _source), tracks) in enumerate(by_track, start=first_id):
        group = list(tracks)
        first = next((t for t in group if t.group == "audio"), group[0])
        audio_set = ET.SubElement(
            period,
            "AdaptationSet",
            {
                "id": str(index),
                "contentType": "audio",
                "mimeType": "audio/mp4",
                "lang": language,
                "segmentAlignment": "true",
                "startWithSAP": "1",
            },
        )
        if first.label:
            ET.SubElement(audio_set, "Label").text = first.label
        if first.role == "description":
            # DASH-IF IOP: audio description is also signalled as an accessibility feature.
            ET.SubElement(audio_set, "Accessibility", {"schemeIdUri": _AUDIO_PURPOSE_SCHEME, "value": "1"})
        ET.SubElement(audio_set, "Role", {"schemeIdUri": _ROLE_SCHEME, "value": first.role})
        for track in group:
            attributes = {"id": track.name, "bandwidth": str(_peak(track)), "codecs": track.codecs}
            if track.sample_rate:
                attributes["audioSamplingRate"] = str(track.sample_rate)
            representation = ET.SubElement(audio_set, "Representation", attributes)
            if track.channels:
                ET.SubElement(
                    representation,
                    "AudioChannelConfiguration",
                    {"schemeIdUri": _CHANNELS_SCHEME, "value": str(track.channels)},
                )
            _add_template(representation, track)


def codec_family(codecs: str) -> str:
    """The sample entry of an RFC 6381 codecs string: "avc1" of "avc1.64001f", "av01" of "av01.0.04M.08"."""
    return codecs.split(".", 1)[0]


def _add_video_set(period: ET.Element, set_id: int, videos: Sequence[Track]) -> None:
    ordered = sorted(videos, key=lambda t: (t.height or 0, _peak(t)))
    video_set = ET.SubElement(
        period,
        "AdaptationSet",
        {
            "id": str(set_id),
            "contentType": "video",
            "mimeType": "video/mp4",
            # every rung is cut at the same instants with an IDR first: players may switch
            # at any segment boundary without overlap or gap
            "segmentAlignment": "true",
            "startWithSAP": "1",
            "maxWidth": str(max(t.width or 0 for t in ordered)),
            "maxHeight": str(max(t.height or 0 for t in ordered)),
        },
    )
    rates = {_frame_rate(t.frame_rate) for t in ordered if t.frame_rate}
    if len(rates) == 1:
        video_set.set("maxFrameRate", rates.pop())
    for track in ordered:
        attributes = {
            "id": track.name,
            "bandwidth": str(_peak(track)),
            "codecs": track.codecs,
            "width": str(track.width or 0),
            "height": str(track.height or 0),
            "sar": f"{track.sar[0]}:{track.sar[1]}",
        }
        if track.frame_rate:
            attributes["frameRate"] = _frame_rate(track.frame_rate)
        _add_template(ET.SubElement(video_set, "Representation", attributes), track)


def timeline(track: Track) -> list[tuple[int | None, int, int]]:
    """SegmentTimeline entries (t or None when contiguous, d, r) in track timescale units.

    Durations are recovered as integer ticks from the measured seconds: every fragment
    duration is a whole number of ticks, so rounding restores it exactly.
    """
    entries: list[tuple[int | None, int, int]] = []
    expected_start: int | None = None
    for seg in track.segments:
        start = round(seg.start * track.timescale)
        duration = round(seg.duration * track.timescale)
        contiguous = expected_start is not None and abs(start - expected_start) <= 1
        if contiguous and entries and entries[-1][1] == duration:
            t, d, r = entries[-1]
            entries[-1] = (t, d, r + 1)
        else:
            entries.append((None if contiguous else start, duration, 0))
        expected_start = (expected_start if contiguous else start) + duration  # type: ignore[operator]
    return entries


def iso_duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def _add_template(representation: ET.Element, track: Track) -> None:
    template = ET.SubElement(
        representation,
        "SegmentTemplate",
        {
            "timescale": str(track.timescale),
            "initialization": INIT_TEMPLATE,
            "media": MEDIA_TEMPLATE,
            "startNumber": str(START_NUMBER),
        },
    )
    segment_timeline = ET.SubElement(template, "SegmentTimeline")
    for t, d, r in timeline(track):
        attributes = {"d": str(d)}
        if t is not None:
            attributes = {"t": str(t), **attributes}
        if r:
            attributes["r"] = str(r)
        ET.SubElement(segment_timeline, "S", attributes)


def _check_template(track: Track) -> None:
    if not track.segments:
        raise TrackUnrenderable(f"track {track.name!r} has no segments")
    if track.init_uri != "init.mp4":
        raise TrackUnrenderable(f"track {track.name!r}: init {track.init_uri!r} is not init.mp4")
    for number, seg in enumerate(track.segments, start=START_NUMBER):
        if seg.uri != f"seg_{number:05d}.m4s":
            raise TrackUnrenderable(f"track {track.name!r}: segment {seg.uri!r} is off the template")


def _peak(track: Track) -> int:
    return bandwidth.measure(track.segments, bandwidth.target_duration(track.segments))[0]


def _frame_rate(rate: float) -> str:
    """DASH FrameRateType: an integer or N/D; NTSC rates become 30000/1001 rather than 29.97."""
    fraction = Fraction(rate).limit_denominator(1001)
    if fraction.denominator == 1:
        return str(fraction.numerator)
    if math.isclose(float(fraction), rate, rel_tol=1e-6):
        return f"{fraction.numerator}/{fraction.denominator}"
    return f"{rate:g}"
