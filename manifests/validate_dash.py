"""Pre-publish checks for the static MPD: what dash.js and the DASH-IF guidelines rely on.

Parsed with ElementTree (mpegdash is a test-only dependency). Checks the profile and static
type, the attributes players filter Representations by (codecs, bandwidth, width/height,
frameRate, sar, lang), that segmentAlignment="true" is actually true across video
Representations, that every SegmentTemplate URL the timeline expands to exists, and, given the
tracks, that the timeline is the measured media.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from manifests import bandwidth
from manifests.dash import NAMESPACE, PROFILE, timeline
from manifests.model import Track

_NS = {"d": NAMESPACE}


def check_mpd(text: str, *, tracks: Sequence[Track] | None = None, known_uris: set[str] | None = None) -> list[str]:
    """Every problem of `text`, an MPD at the package root; [] when it is publishable."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        return [f"not well-formed XML: {exc}"]
    if root.tag != f"{{{NAMESPACE}}}MPD":
        return [f"root element is {root.tag}, not MPD in {NAMESPACE}"]
    problems = []
    if root.get("type", "static") != "static":
        problems.append(f"type is {root.get('type')!r}, not static")
    if PROFILE not in (root.get("profiles") or "").split(","):
        problems.append(f"profiles lacks {PROFILE}")
    duration = _seconds(root.get("mediaPresentationDuration"))
    if duration is None:
        problems.append("mediaPresentationDuration missing or not PTnHnMnS")
    if _seconds(root.get("minBufferTime")) is None:
        problems.append("minBufferTime missing or not PTnHnMnS")
    by_name = {t.name: t for t in tracks or ()}
    if root.find("d:Period/d:AdaptationSet", _NS) is None:
        problems.append("no AdaptationSet: nothing to play")
    video_ends: dict[str, list[float]] = {}  # the first Representation of each video set
    for adaptation in root.iterfind("d:Period/d:AdaptationSet", _NS):
        kind = adaptation.get("contentType") or (adaptation.get("mimeType") or "").split("/")[0]
        label = f"AdaptationSet {adaptation.get('id')} ({kind})"
        if adaptation.get("segmentAlignment") != "true":
            problems.append(f"{label}: segmentAlignment is not true")
        if adaptation.get("startWithSAP") not in ("1", "2"):
            problems.append(f"{label}: startWithSAP is not 1 or 2")
        if kind == "audio" and not adaptation.get("lang"):
            problems.append(f"{label}: lang missing")
        ends: dict[str, list[float]] = {}
        for rep in adaptation.iterfind("d:Representation", _NS):
            rep_id = rep.get("id", "")
            where = f"Representation {rep_id!r}"
            required = ["id", "bandwidth"] + (["width", "height", "frameRate", "sar"] if kind == "video" else [])
            for attribute in required:
                if not rep.get(attribute):
                    problems.append(f"{where}: {attribute} missing")
            if not (rep.get("codecs") or adaptation.get("codecs")):
                problems.append(f"{where}: codecs missing")
            template = rep.find("d:SegmentTemplate", _NS)
            if template is None:
                template = adaptation.find("d:SegmentTemplate", _NS)
            if template is None or template.find("d:SegmentTimeline", _NS) is None:
                problems.append(f"{where}: no SegmentTemplate with a SegmentTimeline")
                continue
            entries = _expand(template)
            timescale = int(template.get("timescale") or 1)
            ends[rep_id] = [(t + d) / timescale for t, d in entries]
            if duration is not None and entries and ends[rep_id][-1] < duration - _longest(entries, timescale):
                problems.append(f"{where}: timeline ends at {ends[rep_id][-1]:.3f} s, short of {duration:.3f} s")
            if known_uris is not None:
                problems += [f"{where}: {p}" for p in _missing(template, rep_id, len(entries), known_uris)]
            track = by_name.get(rep_id)
            if track is not None:
                problems += [f"{where}: {p}" for p in _measured(rep, template, entries, track)]
        if kind == "video":
            problems += _misaligned(label, ends)
            problems += _mixed_families(label, adaptation)
            if ends:
                video_ends[label] = next(iter(ends.values()))
    # Sets of different codecs (H.264, AV1) are cut at the same instants too: a player that changes
    # family (a DASH-IF IOP switching set, or a restart on another set) lands on a segment boundary.
    if len(video_ends) > 1 and _misaligned("video AdaptationSets", video_ends):
        problems.append(f"video AdaptationSets {', '.join(video_ends)} are cut at different instants")
    return problems


def _mixed_families(label: str, adaptation: ET.Element) -> list[str]:
    """One codec family per video set: players switch freely within a set, and cannot switch decoders."""
    families = {
        (rep.get("codecs") or adaptation.get("codecs") or "").split(".")[0]
        for rep in adaptation.iterfind("d:Representation", _NS)
    }
    families.discard("")
    if len(families) > 1:
        return [f"{label}: mixes codec families {sorted(families)}"]
    return []


def _expand(template: ET.Element) -> list[tuple[int, int]]:
    """(start, duration) in timescale units of every segment the SegmentTimeline lists."""
    out: list[tuple[int, int]] = []
    timeline_element = template.find("d:SegmentTimeline", _NS)
    for s in timeline_element if timeline_element is not None else ():
        t = s.get("t")
        start = int(t) if t is not None else (out[-1][0] + out[-1][1] if out else 0)
        d = int(s.get("d") or 0)
        for _ in range(int(s.get("r") or 0) + 1):
            out.append((start, d))
            start += d
    return out


def _missing(template: ET.Element, rep_id: str, count: int, known_uris: set[str]) -> list[str]:
    start = int(template.get("startNumber") or 1)
    urls = [expand_template(template.get("initialization") or "", rep_id, start)]
    urls += [expand_template(template.get("media") or "", rep_id, n) for n in range(start, start + count)]
    return [f"{url} does not exist in the store" for url in urls if url not in known_uris]


def _measured(rep: ET.Element, template: ET.Element, entries: list[tuple[int, int]], track: Track) -> list[str]:
    problems = []
    if int(template.get("timescale") or 0) != track.timescale:
        problems.append(f"timescale {template.get('timescale')} is not the track's {track.timescale}")
    expected: list[tuple[int, int]] = []
    for t, d, r in timeline(track):
        start = t if t is not None else expected[-1][0] + expected[-1][1]
        for _ in range(r + 1):
            expected.append((start, d))
            start += d
    if entries != expected:
        problems.append("SegmentTimeline differs from the measured segments")
    peak = bandwidth.measure(track.segments, bandwidth.target_duration(track.segments))[0]
    declared = int(rep.get("bandwidth") or 0)
    if declared and abs(declared - peak) > 0.10 * peak:
        problems.append(f"bandwidth {declared} is off the measured peak {peak} by more than 10%")
    return problems


def _misaligned(label: str, ends: dict[str, list[float]]) -> list[str]:
    if len(ends) < 2:
        return []
    (first_id, reference), *others = ends.items()
    for rep_id, boundaries in others:
        if len(boundaries) != len(reference) or any(
            abs(a - b) > 0.02 for a, b in zip(boundaries, reference, strict=True)
        ):
            return [f"{label}: segmentAlignment is claimed but {rep_id!r} and {first_id!r} are cut differently"]
    return []


def _longest(entries: list[tuple[int, int]], timescale: int) -> float:
    return max(d for _, d in entries) / timescale


def expand_template(template: str, representation_id: str, number: int) -> str:
    """A SegmentTemplate URL for one segment: $RepresentationID$, $Number$ with a printf width, $$."""
    parts = template.split("$")
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(part)
        elif part == "":
            out.append("$")
        elif part == "RepresentationID":
            out.append(representation_id)
        elif part.startswith("Number"):
            fmt = part[len("Number") :] or "%d"
            out.append(fmt % number)
        else:
            out.append(f"${part}$")  # $Time$/$Bandwidth$: not used by our templates; left visible
    return "".join(out)


def _seconds(value: str | None) -> float | None:
    """An xs:duration of the PT…H…M…S form, in seconds; None if absent or of another form."""
    if not value or not value.startswith("PT"):
        return None
    total, number = 0.0, ""
    for char in value[2:]:
        if char.isdigit() or char == ".":
            number += char
            continue
        factor = {"H": 3600, "M": 60, "S": 1}.get(char)
        if factor is None or not number:
            return None
        total += float(number) * factor
        number = ""
    return None if number else total
