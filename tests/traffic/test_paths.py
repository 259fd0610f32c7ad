"""check_path: a table of paths and what becomes of them. Pure."""

from __future__ import annotations

import pytest

from traffic.errors import BadPath, PathTooLong
from traffic.paths import MAX_PATH, check_path, request_path


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b"/a1b2c3/360p/seg_00001.m4s", "a1b2c3/360p/seg_00001.m4s"),
        (b"/a1b2c3/360p/seg%5F00001.m4s", "a1b2c3/360p/seg_00001.m4s"),
        (b"/a1b2c3/master.m3u8?token=v1.1.a.x%00", "a1b2c3/master.m3u8"),  # the query is not the path
        (b"/caf%C3%A9/a.m4s", "café/a.m4s"),
        (b"/", ""),
        (b"/" + b"a" * 255, "a" * 255),
    ],
)
def test_accepted(raw: bytes, key: str) -> None:
    assert check_path(raw) == key


@pytest.mark.parametrize(
    ("raw", "error", "code"),
    [
        (b"/" + b"a" * 256, PathTooLong, "path_too_long"),
        (b"/" + "é".encode() * 128, PathTooLong, "path_too_long"),  # 256 bytes in 128 characters
        (b"/" + b"ab/" * (MAX_PATH // 3) + b"x", PathTooLong, "path_too_long"),
        (b"/a/%ZZ.m4s", BadPath, "bad_path"),
        (b"/a/seg%2", BadPath, "bad_path"),
        (b"/a/%ff%fe.m4s", BadPath, "bad_path"),
        (b"/a/seg%00.m4s", BadPath, "bad_path"),
        (b"/a/seg\x00.m4s", BadPath, "bad_path"),
        (b"/a/seg%0a.m4s", BadPath, "bad_path"),
        (b"/a/seg%7f.m4s", BadPath, "bad_path"),
        (b"/a/%2e%2e/%2e%2e/etc/passwd", BadPath, "bad_path"),
        (b"/a/../b", BadPath, "bad_path"),
        (b"/a/./b", BadPath, "bad_path"),
        (b"/a//b", BadPath, "bad_path"),
        (b"/a/b/", BadPath, "bad_path"),
        (b"/a%5c..%5cb", BadPath, "bad_path"),
        (b"a/b", BadPath, "bad_path"),
    ],
)
def test_refused(raw: bytes, error: type[BadPath], code: str) -> None:
    with pytest.raises(error) as caught:
        check_path(raw)
    assert type(caught.value) is error and caught.value.code == code
    assert caught.value.status == (414 if error is PathTooLong else 400)
    assert len(str(caught.value)) < 60  # a short reason, not the path echoed back


def test_request_path_prefers_raw_path() -> None:
    assert request_path({"raw_path": b"/a%2Fb", "path": "/a/b"}) == b"/a%2Fb"
    assert request_path({"path": "/a/b"}) == b"/a/b"
