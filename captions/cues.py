"""Reading WebVTT and SRT into validated cues. Pure: bytes in, cues out, or an error naming the line.

Why not webvtt-py, pysrt or srt: all three skip or repair what they cannot read (webvtt-py 0.6 drops
a cue whose timestamp is malformed without a word; srt reports character offsets; none checks that a cue
ends after it starts), and a creator needs "line 12: ..." to fix a file. WebVTT and SRT share one block
structure (blank-line separated blocks: optional identifier, timing line, text), so one strict reader
over numbered lines does both; only the timestamp syntax and the text markup differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from captions.errors import CaptionsTooLarge, InvalidCaptions


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 2 * 1024 * 1024
    max_cues: int = 20_000
    max_line_chars: int = 2_000
    max_cue_lines: int = 16
    max_end_seconds: float = 6 * 3600  # the longest source the transcoder accepts
    # A cue may start this much before the previous one (files merged by hand); more is an error.
    reorder_tolerance_ms: int = 1_000


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    text: str  # WebVTT cue text (markup of the b, i, u, c, v, lang, ruby tags kept)
    settings: str = ""  # WebVTT cue settings, e.g. "line:0 align:start"


_VTT_TIME = r"(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_VTT_TIMING = re.compile(rf"^{_VTT_TIME}[ \t]+-->[ \t]+{_VTT_TIME}(?:[ \t]+(.*))?$")
_SRT_TIME = r"(\d{1,3}):([0-5]?\d):([0-5]?\d)[,.](\d{1,3})"
_SRT_TIMING = re.compile(rf"^{_SRT_TIME}[ \t]*-->[ \t]*{_SRT_TIME}(?:[ \t]+.*)?$")
_SETTING = re.compile(
    r"^(vertical:(rl|lr)|line:-?\d+(\.\d+)?%?(,(start|center|end))?|position:\d+(\.\d+)?%(,(line-left|center|line-right))?|size:\d+(\.\d+)?%|align:(start|center|end|left|right))$"
)  # noqa: E501
_SRT_TAG = re.compile(r"</?([A-Za-z]+)[^>]*>|\{\\[^}]*\}")
_VTT_KEEP = frozenset({"b", "i", "u"})


def parse(data: bytes, limits: Limits = Limits()) -> list[Cue]:
    """The cues of a WebVTT or SRT file (UTF-8, BOM allowed), ordered by start.

    Raises CaptionsTooLarge past `limits`, InvalidCaptions (with the line at fault) for anything a player
    would misread: bad encoding, a malformed timing line, an end not after its start, a cue beyond the
    bound, cues far out of order, no cues at all.
    """
    if len(data) > limits.max_bytes:
        raise CaptionsTooLarge(f"the file has {len(data)} bytes; at most {limits.max_bytes} are accepted")
    text = _decode(data)
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if len(line) > limits.max_line_chars:
            raise CaptionsTooLarge(f"the line has {len(line)} characters, at most {limits.max_line_chars}", line=number)
        if "\x00" in line:
            raise InvalidCaptions("NUL character", line=number)
    webvtt = lines[0].startswith("WEBVTT") and (len(lines[0]) == 6 or lines[0][6] in " \t")
    if not webvtt and lines[0].startswith("WEBVTT"):
        raise InvalidCaptions("the header must be WEBVTT, alone or followed by a space", line=1)
    blocks = _blocks(lines)
    if webvtt:
        next(blocks)  # the header block: WEBVTT and its metadata lines
    cues: list[tuple[int, Cue]] = []
    for first, block in blocks:
        cue = _vtt_cue(first, block, limits) if webvtt else _srt_cue(first, block, limits)
        if cue is None:
            continue
        if len(cues) >= limits.max_cues:
            raise CaptionsTooLarge(f"more than {limits.max_cues} cues", line=first)
        if cues and cue.start_ms < cues[-1][1].start_ms - limits.reorder_tolerance_ms:
            previous = cues[-1][1].start_ms
            raise InvalidCaptions(
                f"the cue starts at {format_time(cue.start_ms)}, before the previous one ({format_time(previous)})",
                line=first,
            )
        cues.append((first, cue))
    if not cues:
        raise InvalidCaptions("the file holds no cues" if webvtt else "not WebVTT (no WEBVTT header) nor SRT: no cues")
    return sorted((c for _, c in cues), key=lambda c: (c.start_ms, c.end_ms))


def format_time(ms: int) -> str:
    """WebVTT's HH:MM:SS.mmm (hours always written, so every reader agrees)."""
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1_000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidCaptions("not UTF-8 text (save the file as UTF-8)", line=line) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _blocks(lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    """(number of the first line, lines) of each blank-line separated block."""
    block: list[str] = []
    first = 0
    for number, line in enumerate(lines, start=1):
        if line.strip():
            if not block:
                first = number
            block.append(line)
        elif block:
            yield first, block
            block = []
    if block:
        yield first, block


def _vtt_cue(first: int, block: list[str], limits: Limits) -> Cue | None:
    head = block[0]
    if head.startswith(("NOTE", "STYLE", "REGION")) and "-->" not in head:
        return None  # comments, style sheets and regions: not carried into the normalised file
    timing_at = 0 if "-->" in head else 1
    if timing_at >= len(block) or "-->" not in block[timing_at]:
        raise InvalidCaptions(
            f"expected a cue timing line (00:00:01.000 --> 00:00:02.000), found {head[:60]!r}", line=first
        )
    number = first + timing_at
    match = _VTT_TIMING.match(block[timing_at].strip())
    if match is None:
        raise InvalidCaptions(f"malformed cue timing {block[timing_at][:80]!r}", line=number)
    groups = match.groups()
    start, end = _ms(groups[0:4]), _ms(groups[4:8])
    settings = [s for s in (groups[8] or "").split() if not s.startswith("region:")]
    for setting in settings:
        if not _SETTING.match(setting):
            raise InvalidCaptions(f"unknown cue setting {setting[:40]!r}", line=number)
    text_lines = block[timing_at + 1 :]
    _check_cue(start, end, number, text_lines, limits)
    for offset, line in enumerate(text_lines, start=number + 1):
        if "-->" in line:
            raise InvalidCaptions(
                "a cue's text may not contain '-->' (a blank line is missing before it?)", line=offset
            )
    text = "\n".join(text_lines)
    return Cue(start, end, text, " ".join(settings)) if text.strip() else None


def _srt_cue(first: int, block: list[str], limits: Limits) -> Cue | None:
    timing_at = 0 if "-->" in block[0] else 1
    if timing_at == 1 and not block[0].strip().isdigit():
        raise InvalidCaptions(f"expected a cue number or timing line, found {block[0][:60]!r}", line=first)
    if timing_at >= len(block):
        raise InvalidCaptions("a cue number with no timing line after it", line=first)
    number = first + timing_at
    match = _SRT_TIMING.match(block[timing_at].strip())
    if match is None:
        raise InvalidCaptions(f"malformed cue timing {block[timing_at][:80]!r}", line=number)
    groups = match.groups()
    start, end = _ms(groups[0:4]), _ms(groups[4:8])
    text_lines = block[timing_at + 1 :]
    _check_cue(start, end, number, text_lines, limits)
    text = "\n".join(srt_text_to_vtt(line) for line in text_lines)
    return Cue(start, end, text) if text.strip() else None


def srt_text_to_vtt(line: str) -> str:
    """SRT markup to WebVTT cue text: b/i/u kept, <font> and ASS overrides ({\\an8}) dropped, & and <
    escaped (WebVTT reads them as markup)."""
    out: list[str] = []
    position = 0
    for match in _SRT_TAG.finditer(line):
        out.append(_escape(line[position : match.start()]))
        tag = (match.group(1) or "").lower()
        if tag in _VTT_KEEP:
            out.append(f"</{tag}>" if match.group(0).startswith("</") else f"<{tag}>")
        position = match.end()
    out.append(_escape(line[position:]))
    return "".join(out)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _check_cue(start: int, end: int, number: int, text_lines: list[str], limits: Limits) -> None:
    if end <= start:
        raise InvalidCaptions(
            f"the cue ends at {format_time(end)}, not after its start {format_time(start)}", line=number
        )
    bound = int(limits.max_end_seconds * 1000)
    if end > bound:
        raise InvalidCaptions(
            f"the cue ends at {format_time(end)}, past the longest video accepted ({format_time(bound)})", line=number
        )
    if len(text_lines) > limits.max_cue_lines:
        raise CaptionsTooLarge(
            f"the cue has {len(text_lines)} lines of text, at most {limits.max_cue_lines}", line=number
        )


def _ms(parts: tuple[str | None, ...]) -> int:
    hours, minutes, seconds, fraction = parts
    millis = int((fraction or "0").ljust(3, "0"))
    return ((int(hours or 0) * 60 + int(minutes or 0)) * 60 + int(seconds or 0)) * 1000 + millis
