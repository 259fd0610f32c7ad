"""What the validator checks of the audio renditions of an HLS package. Pure: parsed playlists in, problems out.

RFC 8216 4.4.6.1 and Apple's authoring spec on EXT-X-MEDIA TYPE=AUDIO groups: each NAME unique in its
group, at most one DEFAULT=YES, AUTOSELECT=YES wherever DEFAULT=YES. And what players need to switch
tracks without a gap: every audio rendition cut into as many segments as the video, lasting as long.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# How far an audio rendition's total duration may be from the video's: a few AAC frames (21.3 ms at
# 48 kHz) where the last one ends past the last video frame, plus a frame of video.
DURATION_TOLERANCE_SECONDS = 0.1


def group_problems(master: dict[str, Any]) -> list[str]:
    """Rules an AUDIO group breaks on its own."""
    problems = []
    groups: dict[str, list[dict[str, Any]]] = {}
    for media in master["media"]:
        if media.get("type") == "AUDIO":
            groups.setdefault(str(media.get("group_id")), []).append(media)
    for group_id, members in groups.items():
        names = [str(m.get("name")) for m in members]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"AUDIO group {group_id!r}: NAME {name!r} is not unique")
        defaults = [m for m in members if str(m.get("default") or "").upper() == "YES"]
        if len(defaults) > 1:
            problems.append(f"AUDIO group {group_id!r}: {len(defaults)} renditions are DEFAULT=YES")
        for media in defaults:
            if str(media.get("autoselect") or "").upper() != "YES":
                problems.append(
                    f"AUDIO group {group_id!r}: {media.get('name')!r} is DEFAULT=YES without AUTOSELECT=YES"
                )
    return problems


def timing_problems(master: dict[str, Any], media: Mapping[str, dict[str, Any]]) -> list[str]:
    """Every audio rendition against the first variant: same segment count, same duration. In an
    audio-only package (variants without RESOLUTION) the first variant is itself an audio rendition."""
    variant = next((v for v in master["playlists"] if v["uri"] in media), None)
    if variant is None:
        return []
    video_uri = variant["uri"]
    video = media[video_uri]["segments"]
    video_seconds = sum(s["duration"] for s in video)
    reference = len(video) if variant["stream_info"].get("resolution") else _counted(video)
    problems = []
    for uri in dict.fromkeys(m["uri"] for m in master["media"] if m.get("type") == "AUDIO" and m.get("uri")):
        if uri not in media:
            continue  # an unlisted playlist is the reference check's finding
        segments = media[uri]["segments"]
        seconds = sum(s["duration"] for s in segments)
        # Cut on the video's segments: as many, or as many once AAC's spill-over segment is left out. The
        # video's own last segment may be as short (a source ending 83 ms past a segment boundary): then the
        # audio's last segment is no spill-over but the one beside it, and the counts match as they are.
        if len(segments) != len(video) and _counted(segments) != reference:
            problems.append(
                f"{uri}: {len(segments)} segments where {video_uri} has {len(video)}: "
                "audio is not cut on the video's segments"
            )
        if abs(seconds - video_seconds) > DURATION_TOLERANCE_SECONDS:
            problems.append(f"{uri}: lasts {seconds:.3f} s where {video_uri} lasts {video_seconds:.3f} s")
    return problems


def _counted(segments: list[dict[str, Any]]) -> int:
    """Segments of an audio rendition on the grid: AAC's last frames may spill a few milliseconds past
    the video's end into a segment of their own, which does not count."""
    return len(segments) - (1 if segments and segments[-1]["duration"] <= DURATION_TOLERANCE_SECONDS else 0)
