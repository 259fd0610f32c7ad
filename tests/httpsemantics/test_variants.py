"""The one cache-key scheme of objects that vary by query: images made on demand by every parameter
but the token, playlists and MPDs by their clip range only, in one order; published objects never."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from httpsemantics import variants
from httpsemantics.variants import (
    cache_key,
    is_generated,
    object_key,
    split_cache_key,
    upstream_target,
    variants_prefix,
)
from playback.clips import END_PARAM, START_PARAM
from playback.signing import TOKEN_PARAM


def test_token_and_clip_params_are_playbacks() -> None:
    assert variants.TOKEN_PARAM == TOKEN_PARAM
    assert variants.CLIP_PARAMS == {START_PARAM, END_PARAM}


@pytest.mark.parametrize(
    ("key", "query", "expected"),
    [
        ("a/thumbnail.jpg", "time=12.5&width=640", "a/thumbnail.jpg\ntime=12.5&width=640"),
        ("a/thumbnail.jpg", "width=640&time=12.5", "a/thumbnail.jpg\ntime=12.5&width=640"),
        ("a/thumbnail.jpg", "time=1&token=abc.def", "a/thumbnail.jpg\ntime=1"),
        ("a/animated.webp", "start=1&end=2&fps=5", "a/animated.webp\nend=2&fps=5&start=1"),
        ("a/thumbnail.webp", "time=%201&x=a%26b", "a/thumbnail.webp\ntime=+1&x=a%26b"),
        ("a/thumbnail.avif", "", "a/thumbnail.avif"),
        # Playlists and MPDs vary by their clip range only: a token or CMCD stays out.
        ("a/a1/master.m3u8", "end=47&start=12&token=x&CMCD=sid%3D%22s%22", "a/a1/master.m3u8\nend=47&start=12"),
        ("a/a1/manifest.mpd", "start=3", "a/a1/manifest.mpd\nstart=3"),
        ("a/a1/master.m3u8", "token=x", "a/a1/master.m3u8"),
        # Published objects are their path: a query neither splits nor busts them.
        ("a/a1/360p/seg_00001.m4s", "cachebust=1&start=1", "a/a1/360p/seg_00001.m4s"),
        ("a/a1/thumbnail.jpg", "time=1", "a/a1/thumbnail.jpg"),
    ],
)
def test_cache_key(key: str, query: str, expected: str) -> None:
    assert cache_key(key, parse_qsl(query, keep_blank_values=True)) == expected
    assert object_key(expected) == key
    assert expected == key or expected.startswith(variants_prefix(key))


def test_upstream_target_is_the_canonical_request() -> None:
    assert upstream_target(cache_key("a b/thumbnail.jpg", [("width", "64"), ("time", "1")])) == (
        "/a%20b/thumbnail.jpg?time=1&width=64"
    )
    assert upstream_target("a/a1/master.m3u8") == "/a/a1/master.m3u8"
    # A `?` in an object key is the path's own (a key may hold one): sent encoded, never as a query.
    assert upstream_target("a/a1/master.m3u8?start=1") == "/a/a1/master.m3u8%3Fstart%3D1"
    assert split_cache_key("a/a1/master.m3u8?start=1") == ("a/a1/master.m3u8?start=1", "")


def test_variants_prefix_holds_only_the_objects_own_variants() -> None:
    prefix = variants_prefix("a/thumbnail.jpg")
    assert cache_key("a/thumbnail.jpg", [("time", "1")]).startswith(prefix)
    assert not cache_key("a/thumbnail.jpg.x", [("time", "1")]).startswith(prefix)
    assert not "a/thumbnail.jpg".startswith(prefix)  # the object itself is purged by its key


def test_generated_names_only_under_the_asset() -> None:
    assert is_generated("a/thumbnail.jpg") and is_generated("a/animated.webp")
    assert not is_generated("thumbnail.jpg") and not is_generated("a/b/thumbnail.jpg")
    assert not is_generated("a/thumbnail.png")
