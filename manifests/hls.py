"""HLS multivariant, media and I-frame playlists rendered with the m3u8 library.

Every number comes from measurement: BANDWIDTH is the RFC 8216 peak over the segments
actually written, not the encoder's target, because a player that trusts an understated
BANDWIDTH stalls on the rung it picked.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

import m3u8
from m3u8.model import SessionData

from manifests import bandwidth
from manifests.errors import TrackUnrenderable
from manifests.model import Segment, Track
from manifests.versions import media_features, required_version

AUDIO_GROUP = "audio"
# Marks the multivariant playlist published while higher rungs still encode; players ignore it,
# our tests and the origin's cache policy read it.
PROGRESS_DATA_ID = "com.vodstack.ladder"

_MILLI = Decimal("0.001")

_LANGUAGE_NAMES = {
    "en": "English",
    "eng": "English",
    "fr": "Français",
    "fra": "Français",
    "de": "Deutsch",
    "deu": "Deutsch",
    "es": "Español",
    "spa": "Español",
    "und": "Audio",
}


def extinf_durations(segments: Sequence[Segment]) -> list[float]:
    """Per-segment EXTINF values, millisecond precision, whose sum is exact to a millisecond.

    Each value is the difference of rounded cumulative end times, so rounding errors
    telescope instead of adding up: after an hour of 2 s segments the playlist still ends
    within a millisecond (well inside a frame) of the media.
    """
    out: list[float] = []
    elapsed = Decimal(0)
    previous = Decimal(0)
    for seg in segments:
        elapsed += Decimal(repr(seg.duration))
        rounded = elapsed.quantize(_MILLI, rounding=ROUND_HALF_UP)
        out.append(float(rounded - previous))
        previous = rounded
    return out


def render_media(track: Track, *, target_duration: int | None = None) -> str:
    """The VOD media playlist of one rendition: EXT-X-MAP, EXTINF per segment, ENDLIST."""
    return _render_media(track, target_duration, i_frames_only=False)


def render_event(track: Track, *, target_duration: int, ended: bool = False) -> str:
    """A growing media playlist (PLAYLIST-TYPE:EVENT) over the segments written so far.

    Published while the encode runs, so a player can start before the ladder is finished; the
    caller keeps `target_duration` fixed across updates (RFC 8216 6.2.1: it must not change).
    `ended` appends EXT-X-ENDLIST once the last segment is listed: an EVENT playlist may end, but
    never turn into a VOD one (its type must not change), so players that started on it finish on it.
    EXT-X-START:TIME-OFFSET=0 (RFC 8216 4.3.5.2): a viewer opening a video that is still encoding
    starts at its beginning, not near the newest segment as players do on a playlist without ENDLIST
    (hls.js, Safari). Only once the playlist is longer than three target durations, as the RFC asks
    of an offset in a playlist without ENDLIST; before that, its newest segment is its beginning.
    """
    return _render_media(track, target_duration, i_frames_only=False, playlist_type="event", ended=ended)


def render_iframes(track: Track, *, target_duration: int | None = None) -> str:
    """I-frame playlist for trick play: byte ranges into the existing segments, no extra files.

    Each entry spans moof + the first keyframe of a segment; its EXTINF runs to the next
    listed I-frame, i.e. the segment duration (one IDR opens every segment).
    """
    if not track.has_iframe_ranges:
        raise TrackUnrenderable(f"track {track.name!r}: segments carry no iframe_range")
    return _render_media(track, target_duration, i_frames_only=True)


def _render_media(
    track: Track, target_duration: int | None, *, i_frames_only: bool, playlist_type: str = "vod", ended: bool = False
) -> str:
    segments = _require_segments(track)
    durations = extinf_durations(segments)
    playlist = m3u8.M3U8()
    playlist.version = required_version(
        media_features(has_map=True, i_frames_only=i_frames_only, byterange=i_frames_only, float_extinf=True)
    )
    playlist.target_duration = _target(track, durations, target_duration)
    playlist.playlist_type = playlist_type
    if playlist_type == "event" and (ended or sum(durations) > 3 * playlist.target_duration):
        playlist.start = m3u8.Start(time_offset=0)
    playlist.is_i_frames_only = i_frames_only
    playlist.is_endlist = playlist_type == "vod" or ended
    for seg, duration in zip(segments, durations, strict=True):
        byterange = None
        if i_frames_only and seg.iframe_range is not None:
            offset, length = seg.iframe_range
            byterange = f"{length}@{offset}"
        playlist.add_segment(
            m3u8.Segment(
                uri=seg.uri,
                duration=duration,
                title="",
                byterange=byterange,
                init_section={"uri": track.init_uri},
            )
        )
    return str(playlist.dumps(infspec="milliseconds"))


def render_master(
    videos: Sequence[Track],
    audios: Sequence[Track],
    *,
    complete: bool = True,
    target_duration: int | None = None,
) -> str:
    """The multivariant playlist over `videos` (each with every audio in one AUDIO group).

    complete=False is the progressive-publish form: the caller passes only finished rungs,
    I-frame playlists are left out (they come with the full ladder) and a SESSION-DATA entry
    says the ladder is partial. Pass `target_duration` only if it was passed to render_media.
    Variants are ordered by ascending peak bandwidth: players that start on the first entry
    start fast, and ABR climbs from there.
    """
    if not videos and not audios:
        raise TrackUnrenderable("a multivariant playlist needs at least one video or audio track")
    playlist = m3u8.M3U8()
    playlist.is_independent_segments = True
    groups = audio_groups(audios)
    group_rates: dict[str, tuple[int, int, list[str]]] = {}  # group -> (peak, average, codecs)
    for group_id, members in groups.items():
        # Audio only: each group's default rendition is its variant's own media (no URI, RFC 8216 4.4.6.1).
        in_variant = _group_default(members) if not videos else None
        group_rates[group_id] = _add_audio_group(playlist, group_id, members, target_duration, in_variant)
    if not videos:
        _add_audio_variants(playlist, groups, group_rates)
        if not complete:
            playlist.session_data.append(SessionData(PROGRESS_DATA_ID, value="partial"))
        return str(playlist.dumps())

    variants = []
    for video in videos:
        _require_segments(video)
        target = _measure_target(video, target_duration)
        peak, average = bandwidth.measure(video.segments, target)
        # One variant per audio group (Apple: variants duplicated for a multichannel group).
        for group_id in groups or {"": []}:
            audio_peak, audio_average, audio_codecs = group_rates.get(group_id, (0, 0, []))
            info: dict[str, object] = {
                "bandwidth": peak + audio_peak,
                "average_bandwidth": average + audio_average,
                "codecs": ",".join([video.codecs, *audio_codecs]),
            }
            if video.width and video.height:
                info["resolution"] = f"{video.width}x{video.height}"
            if video.frame_rate:
                info["frame_rate"] = video.frame_rate
            if group_id:
                info["audio"] = group_id
            variants.append((peak + audio_peak, video, info))
    variants.sort(key=lambda v: (v[0], v[1].height or 0))
    for _, video, info in variants:
        playlist.add_playlist(m3u8.Playlist(video.playlist_uri, info, playlist.media, None))

    if complete:
        listed: set[str] = set()
        for _, video, _ in variants:
            if not video.has_iframe_ranges or video.name in listed:
                continue
            listed.add(video.name)
            peak, average = iframe_bandwidth(video, target_duration)
            iframe_info: dict[str, object] = {
                "bandwidth": peak,
                "average_bandwidth": average,
                "codecs": video.codecs,
            }
            if video.width and video.height:
                iframe_info["resolution"] = f"{video.width}x{video.height}"
            playlist.add_iframe_playlist(m3u8.IFramePlaylist(None, video.iframe_playlist_uri, iframe_info))
    else:
        playlist.session_data.append(SessionData(PROGRESS_DATA_ID, value="partial"))
    return str(playlist.dumps())


def _add_audio_variants(
    playlist: m3u8.M3U8, groups: dict[str, list[Track]], group_rates: dict[str, tuple[int, int, list[str]]]
) -> None:
    """An audio-only package: one variant per AUDIO group (a bit rate of every track: 64k, 128k, 5.1),
    its URI the group's default rendition (listed in the group without a URI: its media is the variant's,
    RFC 8216 4.4.6.1), its rate the group's largest member (a viewer may switch to any track of the
    group), CODECS the audio's alone and no RESOLUTION (RFC 8216 4.3.4.2: a variant whose media playlist
    holds only audio). Ascending bandwidth, like video variants.

    Why no URI on the default: hls.js (1.7) takes a rendition with a URI for alternate audio; switching
    from the variant's own audio to another track then leaves the buffered audio of the first in place
    (the new track is heard only past it). Without a URI it is the variant's own audio, and a switch
    flushes it, as for a video with muxed audio."""
    variants = []
    for group_id, members in groups.items():
        peak, average, codecs = group_rates[group_id]
        default = _group_default(members)
        info: dict[str, object] = {
            "bandwidth": peak,
            "average_bandwidth": average,
            "codecs": ",".join(codecs),
            "audio": group_id,
        }
        variants.append((peak, default, info))
    variants.sort(key=lambda v: v[0])
    for _, default, info in variants:
        playlist.add_playlist(m3u8.Playlist(default.playlist_uri, info, playlist.media, None))


def audio_groups(audios: Sequence[Track]) -> dict[str, list[Track]]:
    """The AUDIO groups over `audios`: the stereo group (every track of group AUDIO_GROUP), then each other
    group (multichannel) holding, per source track of the stereo group, its own rendition where it has
    one and the stereo one otherwise, so that every group offers every language (Apple's authoring spec)."""
    main = [a for a in audios if a.group == AUDIO_GROUP]
    groups: dict[str, list[Track]] = {AUDIO_GROUP: main} if main else {}
    for group_id in dict.fromkeys(a.group for a in audios if a.group != AUDIO_GROUP):
        own = {a.source: a for a in audios if a.group == group_id}
        groups[group_id] = [own.pop(a.source, a) for a in main] + list(own.values())
    return groups


def _group_default(members: Sequence[Track]) -> Track:
    return next((a for a in members if a.default), members[0])


def _add_audio_group(
    playlist: m3u8.M3U8,
    group_id: str,
    members: Sequence[Track],
    target_duration: int | None,
    in_variant: Track | None = None,
) -> tuple[int, int, list[str]]:
    """EXT-X-MEDIA entries of one AUDIO group (`in_variant`, the variant's own media, without a URI); its
    peak and average bandwidth (the largest member's, as a player may pick any) and its codecs."""
    peak_max = average_max = 0
    codecs: list[str] = []
    names: set[str] = set()
    default = _group_default(members)
    for audio in members:
        _require_segments(audio)
        peak, average = bandwidth.measure(audio.segments, _measure_target(audio, target_duration))
        peak_max, average_max = max(peak_max, peak), max(average_max, average)
        if audio.codecs not in codecs:
            codecs.append(audio.codecs)
        name = audio.label or _LANGUAGE_NAMES.get(audio.language, audio.language)
        if name in names:
            name = f"{name} ({audio.name})"
        names.add(name)
        playlist.add_media(
            m3u8.Media(
                uri=None if audio is in_variant else audio.playlist_uri,
                type="AUDIO",
                group_id=group_id,
                language=audio.language,
                name=name,
                default="YES" if audio is default else "NO",
                # RFC 8216 4.4.6.1: AUTOSELECT must be YES when DEFAULT is.
                autoselect="YES" if audio.autoselect or audio is default else "NO",
                characteristics=audio.characteristics,
                channels=str(audio.channels) if audio.channels else None,
            )
        )
    return peak_max, average_max, codecs


def iframe_bandwidth(video: Track, target_duration: int | None = None) -> tuple[int, int]:
    """Peak and average of the I-frame playlist: the bytes it fetches over the time they cover."""
    ranged = [
        Segment(uri=s.uri, duration=s.duration, size=s.iframe_range[1], start=s.start)
        for s in video.segments
        if s.iframe_range is not None
    ]
    return bandwidth.measure(ranged, _measure_target(video, target_duration))


def _measure_target(track: Track, target_duration: int | None) -> int:
    return target_duration or bandwidth.target_duration(_as_extinf(track))


def _as_extinf(track: Track) -> list[Segment]:
    # Target duration is defined on the EXTINF values as written, not on the raw floats.
    return [
        Segment(uri=s.uri, duration=d, size=s.size, start=s.start)
        for s, d in zip(track.segments, extinf_durations(track.segments), strict=True)
    ]


def _target(track: Track, durations: list[float], requested: int | None) -> int:
    natural = max(bandwidth.round_half_up(d) for d in durations) or 1
    if requested is None:
        return natural
    if requested < natural:
        raise TrackUnrenderable(
            f"track {track.name!r}: target duration {requested} s is below a segment that rounds to {natural} s"
        )
    return requested


def _require_segments(track: Track) -> tuple[Segment, ...]:
    if not track.segments:
        raise TrackUnrenderable(f"track {track.name!r} has no segments")
    return track.segments
