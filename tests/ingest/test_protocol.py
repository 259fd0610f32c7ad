"""Table tests of the pure TUS header grammar."""

from __future__ import annotations

import base64

import pytest

from ingest.errors import TusError
from ingest.protocol import (
    Concat,
    check_upload_id,
    check_version,
    format_metadata,
    parse_checksum,
    parse_concat,
    parse_defer_length,
    parse_length,
    parse_metadata,
    parse_offset,
    part_size_for,
)

MIB = 1024 * 1024
ID = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("value,expected", [("0", 0), ("42", 42), (" 7 ", 7), ("9" * 19, int("9" * 19))])
def test_lengths(value: str, expected: int) -> None:
    assert parse_length(value) == expected
    assert parse_offset(value) == expected


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "", "1e3", "9" * 20, "0x10"])
def test_bad_lengths(value: str) -> None:
    with pytest.raises(TusError) as exc:
        parse_length(value)
    assert exc.value.status == 400
    assert "non-negative integer" in exc.value.message


def test_offset_is_required() -> None:
    with pytest.raises(TusError):
        parse_offset(None)


def test_metadata_round_trip() -> None:
    header = "filename " + base64.b64encode("été.mp4".encode()).decode() + ",is_confidential"
    meta = parse_metadata(header)
    assert meta == {"filename": "été.mp4", "is_confidential": None}
    assert parse_metadata(format_metadata(meta)) == meta


@pytest.mark.parametrize(
    "header,fragment",
    [
        ("filename not*base64", "not base64"),
        ("filename a b c", "malformed"),
        ("filename " + base64.b64encode(b"\xff\xfe").decode(), "not UTF-8"),
        ("a YQ==,a YQ==", "duplicate"),
        (",", "malformed"),
    ],
)
def test_bad_metadata(header: str, fragment: str) -> None:
    with pytest.raises(TusError) as exc:
        parse_metadata(header)
    assert exc.value.status == 400 and fragment in exc.value.message


def test_checksum() -> None:
    digest = base64.b64encode(bytes(20)).decode()
    assert parse_checksum(f"sha1 {digest}").algorithm == "sha1"
    assert parse_checksum(None) is None
    for bad, status in [("crc32 AAAA", 400), ("sha1", 400), ("sha1 ***", 400), ("md5 " + digest, 400)]:
        with pytest.raises(TusError) as exc:
            parse_checksum(bad)
        assert exc.value.status == status


def test_concat() -> None:
    assert parse_concat("partial") == Concat("partial")
    assert parse_concat(f"final;/files/{ID} http://h/files/{ID}/") == Concat("final", (ID, ID))
    for bad in ["final;", "final;/files/../etc", "whole", f"final /files/{ID}"]:
        with pytest.raises(TusError):
            parse_concat(bad)


def test_version_and_ids() -> None:
    check_version("1.0.0")
    with pytest.raises(TusError) as exc:
        check_version("0.2.2")
    assert exc.value.status == 412
    for bad in ["..", "../../etc/passwd", "%2e%2e", ID.upper(), ID + "0"]:
        with pytest.raises(TusError) as exc:
            check_upload_id(bad)
        assert exc.value.status == 404
    assert parse_defer_length("1") is True
    with pytest.raises(TusError):
        parse_defer_length("0")


@pytest.mark.parametrize(
    "length,max_size,preferred,expected",
    [
        (10 * MIB, 20 * 1024 * MIB, 8 * MIB, 8 * MIB),
        (100 * 1024 * MIB, 20 * 1024 * MIB, 8 * MIB, 11 * MIB),  # 100 GiB / 10,000 parts, rounded up
        (None, 5 * 1024 * 1024 * MIB, 8 * MIB, 525 * MIB),  # deferred: sized for Tus-Max-Size (5 TiB)
        (1, 1, 1, 5 * MIB),  # never below S3's minimum
    ],
)
def test_part_size(length: int | None, max_size: int, preferred: int, expected: int) -> None:
    size = part_size_for(length, max_size, preferred)
    assert size == expected
    assert size * 10_000 >= (length if length is not None else max_size)
