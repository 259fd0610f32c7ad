"""Cache keys of images made on demand: the query is part of the object, in one order, without the token."""

from __future__ import annotations

import pytest

from httpsemantics import variants
from httpsemantics.variants import is_generated, split_variant, variant_key
from playback.signing import TOKEN_PARAM


def test_token_param_is_playbacks() -> None:
    assert variants.TOKEN_PARAM == TOKEN_PARAM


@pytest.mark.parametrize(
    ("key", "query", "expected"),
    [
        ("a/thumbnail.jpg", "time=12.5&width=640", "a/thumbnail.jpg?time=12.5&width=640"),
        ("a/thumbnail.jpg", "width=640&time=12.5", "a/thumbnail.jpg?time=12.5&width=640"),
        ("a/thumbnail.jpg", "time=1&token=abc.def", "a/thumbnail.jpg?time=1"),
        ("a/animated.webp", "start=1&end=2&fps=5", "a/animated.webp?end=2&fps=5&start=1"),
        ("a/thumbnail.webp", "time=%201&x=a%26b", "a/thumbnail.webp?time=+1&x=a%26b"),
        ("a/thumbnail.avif", "", "a/thumbnail.avif"),
        # Published objects are their path: a query neither splits nor busts them.
        ("a/a1/360p/seg_00001.m4s", "cachebust=1", "a/a1/360p/seg_00001.m4s"),
        ("a/a1/thumbnail.jpg", "time=1", "a/a1/thumbnail.jpg"),
        ("a/a1/master.m3u8", "token=x", "a/a1/master.m3u8"),
    ],
)
def test_variant_key(key: str, query: str, expected: str) -> None:
    assert variant_key(key, query) == expected
    path, _ = split_variant(expected)
    assert path == key


def test_generated_names_only_under_the_asset() -> None:
    assert is_generated("a/thumbnail.jpg") and is_generated("a/animated.webp")
    assert not is_generated("thumbnail.jpg") and not is_generated("a/b/thumbnail.jpg")
    assert not is_generated("a/thumbnail.png")
