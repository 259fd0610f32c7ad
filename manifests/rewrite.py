"""Delivery-time edits of published manifests: list a subset of the rungs, without re-transcoding,
and the URI edits other delivery rewrites share (clip.py, the edge's token signing).

Done on the parsed model (m3u8 for HLS, ElementTree for DASH), never by regex: a URI inside an
attribute or a tag we do not know must survive untouched. Signing URIs with the viewer's token
lives with the edge (cdn_edge/rewrite.py), which owns the token format; this module owns what
the manifests mean, so rung selection belongs here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import m3u8

from manifests.dash import NAMESPACE
from manifests.errors import EmptySelection


@dataclass(frozen=True)
class Rung:
    """What a filter sees of one video variant / Representation."""

    name: str  # the rendition id: HLS directory, DASH Representation@id
    bandwidth: int
    height: int | None


def select_hls_rungs(master_text: str, keep: Callable[[Rung], bool]) -> str:
    """The multivariant playlist listing only kept variants (and their I-frame playlists).

    Audio renditions stay: every kept variant still references its AUDIO group.
    """
    playlist = m3u8.loads(master_text)
    kept = [v for v in playlist.playlists if keep(_hls_rung(v.uri, v.stream_info))]
    if not kept:
        raise EmptySelection("no video variant passes the rung filter")
    playlist.playlists[:] = kept
    playlist.iframe_playlists[:] = [
        v for v in playlist.iframe_playlists if _rung_name(v.uri) in {_rung_name(k.uri) for k in kept}
    ]
    return str(playlist.dumps())


def select_dash_rungs(mpd_text: str, keep: Callable[[Rung], bool]) -> str:
    """The MPD with only kept video Representations; maxWidth/maxHeight follow the survivors."""
    ET.register_namespace("", NAMESPACE)
    root = ET.fromstring(mpd_text)
    ns = {"d": NAMESPACE}
    emptied: list[ET.Element] = []
    videos = 0
    for adaptation in root.iterfind("d:Period/d:AdaptationSet", ns):
        if adaptation.get("contentType") != "video" and not adaptation.get("mimeType", "").startswith("video/"):
            continue
        videos += 1
        representations = adaptation.findall("d:Representation", ns)
        kept = [
            r
            for r in representations
            if keep(Rung(r.get("id", ""), int(r.get("bandwidth", "0")), _int(r.get("height"))))
        ]
        if not kept:
            # A codec family (an AV1 set beside the H.264 one) may lose every rung; the MPD may not.
            emptied.append(adaptation)
            continue
        for representation in representations:
            if representation not in kept:
                adaptation.remove(representation)
        for attribute in ("width", "height"):
            if adaptation.get(f"max{attribute.title()}"):
                adaptation.set(f"max{attribute.title()}", str(max(_int(r.get(attribute)) or 0 for r in kept)))
    if videos and len(emptied) == videos:
        raise EmptySelection("no video Representation passes the rung filter")
    for period in root.iterfind("d:Period", ns):
        for adaptation in emptied:
            if adaptation in list(period):
                period.remove(adaptation)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def with_query(uri: str, params: dict[str, str]) -> str:
    """`uri` with `params` set in its query (replacing the same names, keeping the others)."""
    parts = urlsplit(uri)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query, safe="$")))


def map_master_uris(master_text: str, edit: Callable[[str], str]) -> str:
    """The multivariant playlist with `edit` applied to every playlist URI it lists: variants, audio
    renditions (those with a URI) and I-frame playlists."""
    playlist = m3u8.loads(master_text)
    for variant in playlist.playlists:
        variant.uri = edit(variant.uri)
    for media in playlist.media:
        if media.uri:
            media.uri = edit(media.uri)
    for iframe in playlist.iframe_playlists:
        iframe.uri = edit(iframe.uri)
    return str(playlist.dumps())


def _hls_rung(uri: str, info: object) -> Rung:
    resolution = getattr(info, "resolution", None)
    return Rung(_rung_name(uri), int(getattr(info, "bandwidth", 0) or 0), resolution[1] if resolution else None)


def _rung_name(uri: str) -> str:
    # variant URIs are "<rendition>/index.m3u8" relative to the master; a query (a token) is not part of it
    return uri.split("?", 1)[0].split("/", 1)[0]


def _int(value: str | None) -> int | None:
    return int(value) if value else None
