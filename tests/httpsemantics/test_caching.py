"""Content-Type and Cache-Control by object kind; growing playlists detected by content. Pure."""

from __future__ import annotations

import pytest

from httpsemantics.caching import (
    CachePolicy,
    Kind,
    cache_control,
    classify,
    content_disposition,
    dash_state,
    hls_state,
)

POLICY = CachePolicy()


@pytest.mark.parametrize(
    ("key", "kind", "content_type"),
    [
        ("a/master.m3u8", Kind.PLAYLIST, "application/vnd.apple.mpegurl"),
        ("a/360p/index.m3u8", Kind.PLAYLIST, "application/vnd.apple.mpegurl"),
        ("a/manifest.mpd", Kind.MANIFEST, "application/dash+xml"),
        ("a/360p/init.mp4", Kind.INIT, "video/mp4"),
        ("a/360p/seg_00001.m4s", Kind.SEGMENT, "video/iso.segment"),
        ("a/poster.jpg", Kind.IMAGE, "image/jpeg"),
        ("a/thumbs/t_0001.jpg", Kind.IMAGE, "image/jpeg"),
        ("a/posters/0123abcd/640.webp", Kind.POSTER, "image/webp"),
        ("a/posters/0123abcd/640.avif", Kind.POSTER, "image/avif"),
        ("a/posters/0123abcd/640.jpg", Kind.POSTER, "image/jpeg"),
        ("a/posters/640.jpg", Kind.IMAGE, "image/jpeg"),  # not a version's folder: not immutable
        ("a/b/posters/x/640.jpg", Kind.IMAGE, "image/jpeg"),
        ("a/storyboard.vtt", Kind.TEXT_TRACK, "text/vtt; charset=utf-8"),
        ("a/blob", Kind.OTHER, "application/octet-stream"),
        ("a/a1/downloads/clip-720p.mp4", Kind.DOWNLOAD, "video/mp4"),
        ("a/a1/downloads/clip-audio.m4a", Kind.DOWNLOAD, "audio/mp4"),
        ("a/a1/downloads/init.mp4", Kind.INIT, "video/mp4"),
        ("a/a1/downloads/notes.txt", Kind.OTHER, "application/octet-stream"),
        ("a/a1/360p/clip.mp4", Kind.SEGMENT, "video/mp4"),
    ],
)
def test_classify(key: str, kind: Kind, content_type: str) -> None:
    assert classify(key) == (kind, content_type)


FINISHED = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\ns1.m4s\n#EXT-X-ENDLIST\n"
GROWING = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\ns1.m4s\n"
EVENT_VOD = "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\ns1.m4s\n"
MASTER = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/index.m3u8\n"


def test_playlist_cache_control() -> None:
    assert cache_control(Kind.SEGMENT, POLICY) == "public, max-age=31536000, immutable"
    assert cache_control(Kind.INIT, POLICY) == "public, max-age=31536000, immutable"
    assert cache_control(Kind.POSTER, POLICY) == "public, max-age=31536000, immutable"
    finished = cache_control(Kind.PLAYLIST, POLICY, hls_state(FINISHED))
    assert finished == "public, max-age=60, stale-while-revalidate=60, stale-if-error=86400"
    assert cache_control(Kind.PLAYLIST, POLICY, hls_state(EVENT_VOD)) == finished
    # Growing: at most half a target duration.
    assert cache_control(Kind.PLAYLIST, POLICY, hls_state(GROWING)) == "public, max-age=3"
    assert hls_state(MASTER).variant_uris == ("360p/index.m3u8",)


def test_dash_state() -> None:
    static = '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"/>'
    dynamic = '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" minimumUpdatePeriod="PT4S"/>'
    assert not dash_state(static).growing
    assert dash_state(dynamic).growing and dash_state(dynamic).target_duration == 4
    assert cache_control(Kind.MANIFEST, POLICY, dash_state(dynamic)) == "public, max-age=2"


@pytest.mark.parametrize(
    ("key", "header"),
    [
        ("a/a1/downloads/clip-720p.mp4", 'attachment; filename="clip-720p.mp4"'),
        ("a/a1/downloads/My-Clip-audio.m4a", 'attachment; filename="My-Clip-audio.m4a"'),
        ("a/a1/360p/seg_00001.m4s", None),
        ("a/a1/360p/clip.mp4", None),  # not under downloads/
        ("a/a1/downloads/clip.m3u8", None),
        ('a/a1/downloads/x";y.mp4', None),  # never repeats a name that could break out of the quotes
        ("a/a1/downloads/.hidden.mp4", None),
        ("a/a1/downloads/caf\u00e9.mp4", None),
    ],
)
def test_content_disposition(key: str, header: str | None) -> None:
    assert content_disposition(key) == header


def test_downloads_are_immutable() -> None:
    assert cache_control(Kind.DOWNLOAD, POLICY) == "public, max-age=31536000, immutable"
