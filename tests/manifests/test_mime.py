from __future__ import annotations

import pytest

from manifests.mime import content_type_for


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a1/master.m3u8", "application/vnd.apple.mpegurl"),
        ("a1/360p/index.m3u8", "application/vnd.apple.mpegurl"),
        ("a1/manifest.mpd", "application/dash+xml"),
        ("a1/360p/init.mp4", "video/mp4"),
        ("a1/audio/init.mp4", "video/mp4"),
        ("a1/360p/seg_00001.m4s", "video/iso.segment"),
        ("a1/thumb.JPG", "image/jpeg"),
        ("a1/subs/en.vtt", "text/vtt"),
        ("a1/unknown.bin", "application/octet-stream"),
        ("noext", "application/octet-stream"),
    ],
)
def test_content_type_for(key: str, expected: str) -> None:
    assert content_type_for(key) == expected
