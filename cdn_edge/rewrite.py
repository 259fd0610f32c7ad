"""Playlist rewriting for signed playback: every URI a player will follow from a playlist (variant
playlists, media segments, init segments) gets the viewer's token, so one signed master URL is enough
to play. Done on the parsed model (m3u8 for HLS, ElementTree for DASH), never by regex over the text:
a URI inside an attribute, a comment or a tag we do not know must not be touched. Pure.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import m3u8

from manifests.rewrite import map_master_uris, with_query
from playback.signing import TOKEN_PARAM

DASH_NS = "urn:mpeg:dash:schema:mpd:2011"


def with_token(uri: str, token: str) -> str:
    """`uri` with its `token` query parameter set (replacing any other token)."""
    return with_query(uri, {TOKEN_PARAM: token})


def sign_hls(text: str, token: str) -> str:
    playlist = m3u8.loads(text)
    if playlist.is_variant:
        return map_master_uris(text, lambda uri: with_token(uri, token))
    seen_maps: set[int] = set()
    for segment in playlist.segments:
        segment.uri = with_token(segment.uri, token)
        init = segment.init_section
        if init is not None and init.uri and id(init) not in seen_maps:
            seen_maps.add(id(init))
            init.uri = with_token(init.uri, token)
    for init in playlist.segment_map or []:
        if id(init) not in seen_maps and init.uri:
            seen_maps.add(id(init))
            init.uri = with_token(init.uri, token)
    return playlist.dumps()


def sign_dash(text: str, token: str) -> str:
    ET.register_namespace("", DASH_NS)
    root = ET.fromstring(text)
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "SegmentTemplate":
            for attr in ("media", "initialization"):
                if element.get(attr):
                    element.set(attr, with_token(element.get(attr, ""), token))
        elif tag in ("Initialization", "SegmentURL"):
            for attr in ("sourceURL", "media"):
                if element.get(attr):
                    element.set(attr, with_token(element.get(attr, ""), token))
        elif tag == "BaseURL" and element.text and "?" not in element.text and not element.text.endswith("/"):
            element.text = with_token(element.text.strip(), token)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def sign_playlist(content_type: str | None, body: bytes, token: str) -> bytes | None:
    """The rewritten body, or None when the object is not a playlist."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in ("application/vnd.apple.mpegurl", "application/x-mpegurl"):
        return sign_hls(body.decode("utf-8"), token).encode()
    if kind == "application/dash+xml":
        return sign_dash(body.decode("utf-8"), token).encode()
    return None
