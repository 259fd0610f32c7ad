"""ingest.poster_versions: versions by content, which are retired and when they may go. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.poster_versions import Retired, due, replace, retired_list, retired_raw, variant_key, version_of

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_versions_follow_the_bytes_and_what_is_made_of_them() -> None:
    a = version_of(b"image", [320, 640], ["webp", "jpeg"])
    assert a == version_of(b"image", [320, 640], ["webp", "jpeg"]) and len(a) == 20
    assert a != version_of(b"imagf", [320, 640], ["webp", "jpeg"])
    assert a != version_of(b"image", [320, 1280], ["webp", "jpeg"])
    assert a != version_of(b"image", [320, 640], ["avif", "webp", "jpeg"])
    assert variant_key("as1", a, "640.webp") == f"as1/posters/{a}/640.webp"


@pytest.mark.parametrize(
    ("current", "retired", "new", "after"),
    [
        (None, [], "b", []),  # the first poster retires nothing
        ("a", [], "b", [Retired("a", NOW)]),
        ("a", [], "a", []),  # the same image again: nothing changes
        ("a", [], None, [Retired("a", NOW)]),  # deleted: back to the generated poster
        ("b", [Retired("a", NOW - DAY)], "a", [Retired("b", NOW)]),  # a retired version comes back
        ("c", [Retired("a", NOW - DAY)], "b", [Retired("a", NOW - DAY), Retired("c", NOW)]),
        (None, [Retired("a", NOW - DAY)], None, [Retired("a", NOW - DAY)]),
    ],
)
def test_replace(current: str | None, retired: list[Retired], new: str | None, after: list[Retired]) -> None:
    assert replace(current, retired, new, NOW) == after


def test_due_after_the_grace_period_and_never_the_current_version() -> None:
    retired = [Retired("old", NOW - 2 * DAY), Retired("fresh", NOW - DAY / 2), Retired("back", NOW - 3 * DAY)]
    assert due(retired, "back", NOW, DAY) == [Retired("old", NOW - 2 * DAY)]
    assert due(retired, None, NOW, DAY) == [Retired("old", NOW - 2 * DAY), Retired("back", NOW - 3 * DAY)]
    assert due(retired, None, NOW, 4 * DAY) == []


def test_the_catalog_form_round_trips() -> None:
    retired = [Retired("a", NOW), Retired("b", NOW - DAY)]
    assert retired_list(retired_raw(retired)) == retired
    assert retired_raw([]) is None and retired_list(None) == []
