"""Language tags and track options."""

from __future__ import annotations

import pytest

from captions.errors import InvalidLanguage, InvalidTrackOptions
from captions.tracks import canonical_language, track_options


@pytest.mark.parametrize(
    ("tag", "canonical"), [("en", "en"), ("EN-us", "en-US"), ("zh-hant", "zh-Hant"), ("pt-BR", "pt-BR")]
)
def test_tags_are_canonical(tag: str, canonical: str) -> None:
    assert canonical_language(tag) == canonical


@pytest.mark.parametrize("tag", ["", "english", "en_US", "e", "en-", "x" * 40, "../x", "en US"])
def test_bad_tags(tag: str) -> None:
    with pytest.raises(InvalidLanguage, match="not a BCP 47 language tag"):
        canonical_language(tag)


def test_options() -> None:
    assert track_options("fr", label=None, kind=None).label == "fr"
    assert track_options("fr", label=" Français ", kind="captions").kind == "captions"
    with pytest.raises(InvalidTrackOptions, match="kind must be"):
        track_options("fr", label=None, kind="chapters")
    with pytest.raises(InvalidTrackOptions, match="label"):
        track_options("fr", label="a\nb", kind=None)
