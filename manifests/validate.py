"""The check a package must pass before it is published: RFC 8216 plus Apple's authoring rules.

Works on text, as a player receives it, parsed by the m3u8 library (its dict form, which keeps
what the text says even when a required attribute is missing) plus a line scan for tag
placement, which the parsed form cannot show. Measured facts (sizes, IDRs) come from the
`tracks` the playlists were rendered from; object existence from `known_uris`, since this
package does no I/O. Every problem is collected, so one failed publish names them all.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import m3u8

from manifests import bandwidth, validate_audio
from manifests.errors import ManifestInvalid
from manifests.hls import iframe_bandwidth
from manifests.model import Track
from manifests.validate_dash import check_mpd
from manifests.versions import FEATURE_VERSIONS, media_features

# RFC 8216 4.3.4 tags: only in a multivariant playlist
MASTER_TAGS = frozenset(
    {
        "#EXT-X-MEDIA",
        "#EXT-X-STREAM-INF",
        "#EXT-X-I-FRAME-STREAM-INF",
        "#EXT-X-SESSION-DATA",
        "#EXT-X-SESSION-KEY",
        "#EXT-X-CONTENT-STEERING",
    }
)
# RFC 8216 4.3.2 / 4.3.3 tags: only in a media playlist
MEDIA_TAGS = frozenset(
    {
        "#EXTINF",
        "#EXT-X-BYTERANGE",
        "#EXT-X-DISCONTINUITY",
        "#EXT-X-KEY",
        "#EXT-X-MAP",
        "#EXT-X-PROGRAM-DATE-TIME",
        "#EXT-X-DATERANGE",
        "#EXT-X-GAP",
        "#EXT-X-TARGETDURATION",
        "#EXT-X-MEDIA-SEQUENCE",
        "#EXT-X-DISCONTINUITY-SEQUENCE",
        "#EXT-X-ENDLIST",
        "#EXT-X-PLAYLIST-TYPE",
        "#EXT-X-I-FRAMES-ONLY",
    }
)
# tags that MUST NOT appear more than once in a playlist
SINGLE_TAGS = frozenset(
    {
        "#EXT-X-VERSION",
        "#EXT-X-TARGETDURATION",
        "#EXT-X-MEDIA-SEQUENCE",
        "#EXT-X-PLAYLIST-TYPE",
        "#EXT-X-ENDLIST",
        "#EXT-X-I-FRAMES-ONLY",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        "#EXT-X-START",
    }
)
# Apple HLS authoring spec: declared bit rates within 10% of the measurement
BANDWIDTH_TOLERANCE = 0.10
_FMP4_SUFFIXES = (".m4s", ".mp4", ".cmfv", ".cmfa")


def validate_package(
    master_text: str,
    media_texts: Mapping[str, str],
    *,
    tracks: Sequence[Track] | None = None,
    known_uris: set[str] | None = None,
    mpd_text: str | None = None,
) -> None:
    """Raise ManifestInvalid listing every problem; return quietly for a publishable package.

    `media_texts` maps each media / I-frame playlist URI (relative to the master) to its text;
    `known_uris` holds every object key of the package relative to the master; `mpd_text`, the
    DASH manifest at the same root, is checked too when given.
    """
    unparseable = [
        f"{uri}: unparseable: {error}"
        for uri, error in [("master", _parse_error(master_text))]
        + [(uri, _parse_error(text)) for uri, text in media_texts.items()]
        if error
    ]
    if unparseable:
        raise ManifestInvalid(unparseable)
    problems = [f"master: {p}" for p in check_master(master_text)]
    master = m3u8.parse(master_text)
    media = {uri: m3u8.parse(text) for uri, text in media_texts.items()}
    for uri, text in media_texts.items():
        problems += [f"{uri}: {p}" for p in check_media(text)]
    problems += _reference_problems(master, media_texts, known_uris)
    if known_uris is not None:
        for uri, parsed in media.items():
            problems += [f"{uri}: {p}" for p in _missing_objects(uri, parsed, known_uris)]
    problems += _alignment_problems(master, media)
    problems += validate_audio.timing_problems(master, media)
    if tracks is not None:
        problems += _measurement_problems(master, media, tracks)
    if mpd_text is not None:
        problems += [f"mpd: {p}" for p in check_mpd(mpd_text, tracks=tracks, known_uris=known_uris)]
    if problems:
        raise ManifestInvalid(problems)


def check_master(text: str) -> list[str]:
    """RFC 8216 and Apple rules a multivariant playlist can break on its own."""
    problems = _placement_problems(text, forbidden=MEDIA_TAGS, kind="multivariant")
    master = m3u8.parse(text)
    if not master["playlists"]:
        problems.append("no EXT-X-STREAM-INF variant")
    if not master["is_independent_segments"]:
        problems.append("EXT-X-INDEPENDENT-SEGMENTS missing (Apple: required when every segment opens with an IDR)")
    audio_groups = set()
    for media in master["media"]:
        label = f"EXT-X-MEDIA {media.get('uri') or media.get('name')!r}"
        for attribute in ("type", "group_id", "name"):
            if not media.get(attribute):
                problems.append(f"{label} lacks required {_attr(attribute)}")
        if media.get("type") == "AUDIO":
            audio_groups.add(media.get("group_id"))
            if not media.get("language"):
                problems.append(f"{label} lacks LANGUAGE")
    problems += validate_audio.group_problems(master)
    for variant in master["playlists"]:
        info, label = variant["stream_info"], f"variant {variant['uri']!r}"
        for attribute in ("bandwidth", "average_bandwidth", "codecs"):
            if not info.get(attribute):
                problems.append(f"{label} lacks {_attr(attribute)}")
        if _is_video(info):
            for attribute in ("resolution", "frame_rate"):
                if not info.get(attribute):
                    problems.append(f"{label} lacks {_attr(attribute)}")
        if info.get("codecs") and not _video_codecs(info) and (info.get("resolution") or info.get("frame_rate")):
            # An audio-only variant (RFC 8216 4.3.4.2) has no picture to size or time.
            problems.append(f"{label} has RESOLUTION or FRAME-RATE but CODECS {info['codecs']!r} name no video codec")
        group = info.get("audio")
        if group and group not in audio_groups:
            problems.append(f"{label} names AUDIO group {group!r}, which no EXT-X-MEDIA TYPE=AUDIO defines")
    for variant in master["iframe_playlists"]:
        info, label = variant["iframe_stream_info"], f"I-frame variant {variant.get('uri')!r}"
        for attribute in ("bandwidth", "codecs"):
            if not info.get(attribute):
                problems.append(f"{label} lacks {_attr(attribute)}")
        if not variant.get("uri"):
            problems.append(f"{label} lacks URI")
    return problems


def check_media(text: str) -> list[str]:
    """RFC 8216 rules for one VOD media playlist (regular or I-frames-only)."""
    problems = _placement_problems(text, forbidden=MASTER_TAGS, kind="media")
    playlist = m3u8.parse(text)
    segments = playlist["segments"]
    if not segments:
        problems.append("no media segments")
    target = playlist.get("targetduration")
    if target is None:
        problems.append("EXT-X-TARGETDURATION missing")
    else:
        for index, seg in enumerate(segments, start=1):
            rounded = bandwidth.round_half_up(seg["duration"])
            if rounded > target:
                problems.append(
                    f"EXTINF {seg['duration']} of segment {index} ({seg['uri']}) rounds to {rounded} s, "
                    f"above EXT-X-TARGETDURATION {target}"
                )
    if str(playlist.get("playlist_type") or "").lower() != "vod":
        problems.append("EXT-X-PLAYLIST-TYPE:VOD missing")
    if not playlist["is_endlist"]:
        problems.append("EXT-X-ENDLIST missing")
    has_map = bool(playlist["segment_map"])
    if not has_map and any(s["uri"].lower().endswith(_FMP4_SUFFIXES) for s in segments):
        problems.append("fMP4 segments without EXT-X-MAP for their init section")
    features = media_features(
        has_map=has_map,
        i_frames_only=playlist["is_i_frames_only"],
        byterange=any(s.get("byterange") for s in segments),
        float_extinf=_has_float_extinf(text),
    )
    declared = int(playlist.get("version") or 1)
    for feature in sorted(features):
        if FEATURE_VERSIONS[feature] > declared:
            problems.append(f"EXT-X-VERSION {declared} is too low for {feature} (needs {FEATURE_VERSIONS[feature]})")
    return problems


def _parse_error(text: str) -> str | None:
    try:
        m3u8.parse(text)
    except (ValueError, KeyError, IndexError, TypeError) as exc:  # the parser's failure modes on bad numbers
        return f"{type(exc).__name__}: {exc}"
    return None


def _placement_problems(text: str, *, forbidden: frozenset[str], kind: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        return ["does not start with #EXTM3U"]
    problems = []
    seen: set[str] = set()
    pending_uri: str | None = None  # a tag that must be followed by a URI line
    for number, line in enumerate(lines[1:], start=2):
        if not line.startswith("#"):
            if pending_uri is None:
                problems.append(f"line {number}: URI {line!r} without a preceding EXTINF or EXT-X-STREAM-INF")
            pending_uri = None
            continue
        if not line.startswith("#EXT"):
            continue  # comment
        tag = line.split(":", 1)[0]
        if tag in forbidden:
            problems.append(f"line {number}: {tag} does not belong in a {kind} playlist")
        if tag in SINGLE_TAGS and tag in seen:
            problems.append(f"line {number}: {tag} appears more than once")
        if "#EXT-X-ENDLIST" in seen:
            problems.append(f"line {number}: {tag} after EXT-X-ENDLIST")
        seen.add(tag)
        if tag in ("#EXTINF", "#EXT-X-STREAM-INF"):
            if pending_uri is not None:
                problems.append(f"line {number}: {pending_uri} without a URI line")
            pending_uri = tag
    if pending_uri is not None:
        problems.append(f"{pending_uri} at the end without a URI line")
    return problems


def _reference_problems(
    master: dict[str, Any], media_texts: Mapping[str, str], known_uris: set[str] | None
) -> list[str]:
    problems = []
    referenced = [v["uri"] for v in master["playlists"]]
    referenced += [m["uri"] for m in master["media"] if m.get("uri")]
    referenced += [v["uri"] for v in master["iframe_playlists"] if v.get("uri")]
    for uri in referenced:
        if uri not in media_texts:
            problems.append(f"master: {uri} is referenced but no playlist text was given for it")
        elif known_uris is not None and uri not in known_uris:
            problems.append(f"master: {uri} does not exist in the store")
    for uri in media_texts:
        if uri not in referenced:
            problems.append(f"{uri}: not referenced by the master playlist")
    return problems


def _missing_objects(playlist_uri: str, playlist: dict[str, Any], known_uris: set[str]) -> Iterable[str]:
    base = posixpath.dirname(playlist_uri)
    uris = [m["uri"] for m in playlist["segment_map"] if m.get("uri")]
    uris += [s["uri"] for s in playlist["segments"]]
    for uri in dict.fromkeys(uris):
        key = posixpath.normpath(posixpath.join(base, uri))
        if key not in known_uris:
            yield f"{uri} (object {key}) does not exist in the store"


def _alignment_problems(master: dict[str, Any], media: Mapping[str, dict[str, Any]]) -> list[str]:
    """Apple: every video variant is cut at the same instants, so switching never skips or repeats."""
    variants = [v for v in master["playlists"] if v["uri"] in media and _is_video(v["stream_info"])]
    if len(variants) < 2:
        return []
    rates = [float(v["stream_info"].get("frame_rate") or 30) for v in variants]
    tolerance = 0.5 / max(rates)  # half a frame
    reference_uri = variants[0]["uri"]
    reference = _boundaries(media[reference_uri])
    problems = []
    for variant in variants[1:]:
        boundaries = _boundaries(media[variant["uri"]])
        if len(boundaries) != len(reference):
            problems.append(
                f"{variant['uri']}: {len(boundaries)} segments where {reference_uri} has {len(reference)}: "
                "segment boundaries are not shared across variants"
            )
            continue
        for index, (ours, theirs) in enumerate(zip(boundaries, reference, strict=True), start=1):
            if abs(ours - theirs) > tolerance:
                problems.append(
                    f"{variant['uri']}: segment {index} ends at {ours:.3f} s but at {theirs:.3f} s in "
                    f"{reference_uri}: segment boundaries are not shared across variants"
                )
                break
    return problems


def _measurement_problems(
    master: dict[str, Any], media: Mapping[str, dict[str, Any]], tracks: Sequence[Track]
) -> list[str]:
    by_uri = {t.playlist_uri: t for t in tracks}
    by_iframe_uri = {t.iframe_playlist_uri: t for t in tracks}
    problems = []
    for uri, parsed in media.items():
        track = by_uri.get(uri) or by_iframe_uri.get(uri)
        if track is not None:
            problems += [f"{uri}: {p}" for p in _timing_problems(parsed, track)]
    for track in tracks:
        if track.kind == "video":
            for seg in track.segments:
                if not seg.starts_with_idr:
                    problems.append(f"{track.name}/{seg.uri}: does not start with an IDR frame")

    def target(uri: str) -> int:
        # An understated target is reported on its own; measure with one the segments allow,
        # or every segment would fall outside the RFC window and the rate check would misfire.
        declared = int(media.get(uri, {}).get("targetduration") or 0)
        track = by_uri.get(uri) or by_iframe_uri.get(uri)
        return max(declared, bandwidth.target_duration(track.segments)) if declared and track else declared

    audio_by_group: dict[str, list[Track]] = {}
    for entry in master["media"]:
        if entry.get("type") == "AUDIO" and entry.get("uri") in by_uri:
            audio_by_group.setdefault(entry["group_id"], []).append(by_uri[entry["uri"]])
    for variant in master["playlists"]:
        video = by_uri.get(variant["uri"])
        if video is None or not target(video.playlist_uri):
            continue
        info = variant["stream_info"]
        peak, average = bandwidth.measure(video.segments, target(video.playlist_uri))
        group = info.get("audio")
        audios = audio_by_group.get(group or "", [])
        if video.kind == "audio":
            # An audio-only variant plays its own rendition or another of its AUDIO group (whose default
            # has no URI: it is this one): the largest of them, counted once.
            audios, peak, average = [video, *audios], 0, 0
        elif group and group not in audio_by_group:
            continue  # an unresolved group is check_master's finding; no measurement to compare
        measured = [bandwidth.measure(a.segments, target(a.playlist_uri) or 1) for a in audios]
        peak += max((m[0] for m in measured), default=0)
        average += max((m[1] for m in measured), default=0)
        problems += _rate_problems(f"variant {variant['uri']}", info, peak, average)
    for variant in master["iframe_playlists"]:
        video = by_iframe_uri.get(variant.get("uri") or "")
        if video is None or not video.has_iframe_ranges or not target(video.iframe_playlist_uri):
            continue
        peak, average = iframe_bandwidth(video, target(video.iframe_playlist_uri))
        problems += _rate_problems(f"I-frame variant {variant['uri']}", variant["iframe_stream_info"], peak, average)
    return problems


def _rate_problems(label: str, info: dict[str, Any], peak: int, average: int) -> list[str]:
    problems = []
    for attribute, measured in (("bandwidth", peak), ("average_bandwidth", average)):
        declared = info.get(attribute)
        if not declared or not measured:
            continue  # absence is check_master's finding
        if abs(declared - measured) > BANDWIDTH_TOLERANCE * measured:
            verdict = "understated" if declared < measured else "overstated"
            problems.append(
                f"{label}: {_attr(attribute)} {declared} is {verdict}: measured {measured} bit/s (Apple allows 10%)"
            )
    return problems


def _timing_problems(parsed: dict[str, Any], track: Track) -> list[str]:
    segments = parsed["segments"]
    if [s["uri"] for s in segments] != [s.uri for s in track.segments]:
        return ["segment URIs differ from the rendition's segments"]
    # accurate to a frame (video) or an AAC frame (audio)
    frame = 1 / track.frame_rate if track.frame_rate else 1024 / (track.sample_rate or 48000)
    listed = sum(s["duration"] for s in segments)
    if abs(listed - track.duration) > frame:
        return [f"EXTINF total {listed:.3f} s is off the media's {track.duration:.3f} s by over a frame"]
    return []


def _boundaries(playlist: dict[str, Any]) -> list[float]:
    out, elapsed = [], 0.0
    for seg in playlist["segments"]:
        elapsed += seg["duration"]
        out.append(elapsed)
    return out


def _has_float_extinf(text: str) -> bool:
    for line in text.splitlines():
        if line.startswith("#EXTINF:") and "." in line[len("#EXTINF:") :].split(",", 1)[0]:
            return True
    return False


def _is_video(info: dict[str, Any]) -> bool:
    return bool(info.get("resolution")) or _video_codecs(info)


def _video_codecs(info: dict[str, Any]) -> bool:
    codecs = str(info.get("codecs") or "")
    return any(c.strip().split(".")[0] in {"avc1", "avc3", "hvc1", "hev1", "av01", "vp09"} for c in codecs.split(","))


def _attr(name: str) -> str:
    return name.upper().replace("_", "-")
