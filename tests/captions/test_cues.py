"""Reading WebVTT and SRT: what is accepted and normalised, and each refusal naming the line at fault."""

from __future__ import annotations

import pytest

from captions.cues import Cue, Limits, parse, srt_text_to_vtt
from captions.errors import CaptionsTooLarge, InvalidCaptions
from captions.webvtt import render_file

VTT = b"""WEBVTT - a title

NOTE a comment
spanning lines

STYLE
::cue { color: yellow }

intro
00:00:01.000 --> 00:00:02.500 align:start line:0
Hello <b>there</b>

00:03.000 --> 00:04.000
second

01:00:00.000 --> 01:00:01.000
an hour in
"""

SRT = b"""1
00:00:01,000 --> 00:00:02,500
<font color="#ff0000">Hello</font> <i>there</i> & you

2
00:00:03,000 --> 00:00:04,000
{\\an8}second
line two
"""


def test_webvtt_is_read() -> None:
    assert parse(VTT) == [
        Cue(1000, 2500, "Hello <b>there</b>", "align:start line:0"),
        Cue(3000, 4000, "second"),
        Cue(3_600_000, 3_601_000, "an hour in"),
    ]


def test_srt_becomes_webvtt() -> None:
    cues = parse(SRT)
    assert cues == [Cue(1000, 2500, "Hello <i>there</i> &amp; you"), Cue(3000, 4000, "second\nline two")]
    assert render_file(cues) == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nHello <i>there</i> &amp; you\n\n"
        "00:00:03.000 --> 00:00:04.000\nsecond\nline two\n\n"
    )


def test_bom_and_crlf_are_accepted() -> None:
    assert parse(b"\xef\xbb\xbf" + SRT.replace(b"\n", b"\r\n")) == parse(SRT)


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        (b"WEBVTT\n\n00:00:05.000 --> 00:00:04.000\nbackwards\n", 3, "not after its start"),
        (
            b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nok\n\n00:00:0x.000 --> 00:00:09.000\nbad\n",
            6,
            "malformed cue timing",
        ),
        (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000 colour:red\nx\n", 3, "unknown cue setting"),
        (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nx\n00:00:03.000 --> 00:00:04.000\ny\n", 5, "'-->'"),
        (b"WEBVTT\n\nan identifier\nno timing here\n", 3, "expected a cue timing line"),
        (b"WEBVTTX\n\n00:00:01.000 --> 00:00:02.000\nx\n", 1, "header"),
        (
            b"WEBVTT\n\n00:10:00.000 --> 00:10:01.000\nlate\n\n00:00:01.000 --> 00:00:02.000\nearly\n",
            6,
            "before the previous",
        ),
        (b"WEBVTT\n\n07:00:00.000 --> 07:00:01.000\ntoo late\n", 3, "past the longest video"),
        (b"1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03 --> 00:00:04,000\nbad\n", 6, "malformed cue timing"),
        (b"1\n00:00:02,000 --> 00:00:01,000\nbackwards\n", 2, "not after its start"),
        (b"hello\nworld\n", 1, "expected a cue number"),
        (b"1\n00:00:01,000 --> 00:00:02,000\nok \xe9t\xe9\n", 3, "not UTF-8"),
        (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nnul\x00\n", 4, "NUL"),
    ],
)
def test_bad_files_name_their_line(data: bytes, line: int, words: str) -> None:
    with pytest.raises(InvalidCaptions) as caught:
        parse(data)
    assert caught.value.line == line
    assert caught.value.message.startswith(f"line {line}: ")
    assert words in caught.value.message


@pytest.mark.parametrize("data", [b"", b"WEBVTT\n", b"WEBVTT\n\nNOTE only a note\n"])
def test_no_cues_is_an_error(data: bytes) -> None:
    with pytest.raises(InvalidCaptions, match="no cues"):
        parse(data)


def test_limits() -> None:
    with pytest.raises(CaptionsTooLarge, match="at most 10 are accepted"):
        parse(VTT, Limits(max_bytes=10))
    with pytest.raises(CaptionsTooLarge, match="line 16: more than 2 cues"):
        parse(VTT, Limits(max_cues=2))
    with pytest.raises(CaptionsTooLarge, match="line 1: the line has"):
        parse(VTT, Limits(max_line_chars=5))


def test_small_disorder_is_sorted() -> None:
    data = b"WEBVTT\n\n00:00:02.000 --> 00:00:03.000\nb\n\n00:00:01.500 --> 00:00:02.000\na\n"
    assert [c.text for c in parse(data)] == ["a", "b"]


@pytest.mark.parametrize(
    ("srt", "vtt"),
    [("a < b", "a &lt; b"), ("<b>bold</b>", "<b>bold</b>"), ("<u>x</U>", "<u>x</u>"), ("{\\i1}x", "x")],
)
def test_srt_markup(srt: str, vtt: str) -> None:
    assert srt_text_to_vtt(srt) == vtt
