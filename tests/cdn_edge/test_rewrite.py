"""Token rewriting of playlists on the parsed model. Pure."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from cdn_edge.rewrite import sign_dash, sign_playlist, with_token

TOKEN = "v1.123.a.sig"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("seg_00001.m4s", f"seg_00001.m4s?token={TOKEN}"),
        ("360p/index.m3u8?x=1", f"360p/index.m3u8?x=1&token={TOKEN}"),
        ("init.mp4?token=old", f"init.mp4?token={TOKEN}"),
        ("https://cdn.example/a/seg.m4s", f"https://cdn.example/a/seg.m4s?token={TOKEN}"),
        ("seg_$Number%05d$.m4s", f"seg_$Number%05d$.m4s?token={TOKEN}"),
    ],
)
def test_with_token(uri: str, expected: str) -> None:
    assert with_token(uri, TOKEN) == expected


MPD = """<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT8S">
  <Period>
    <AdaptationSet contentType="video" mimeType="video/mp4">
      <Representation id="360p" bandwidth="800000" width="640" height="360">
        <SegmentTemplate timescale="1000" duration="4000" startNumber="1"
                         initialization="360p/init.mp4" media="360p/seg_$Number%05d$.m4s"/>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"""


def test_sign_dash() -> None:
    root = ET.fromstring(sign_dash(MPD, TOKEN))
    template = root.find(".//{urn:mpeg:dash:schema:mpd:2011}SegmentTemplate")
    assert template is not None
    assert template.get("initialization") == f"360p/init.mp4?token={TOKEN}"
    assert template.get("media") == f"360p/seg_$Number%05d$.m4s?token={TOKEN}"
    assert template.get("startNumber") == "1"
    assert root.get("mediaPresentationDuration") == "PT8S"


def test_only_playlists_are_rewritten() -> None:
    assert sign_playlist("video/iso.segment", b"\x00\x01", TOKEN) is None
    assert sign_playlist("application/dash+xml", MPD.encode(), TOKEN) is not None
