"""H.264 sources carrying CEA-608 closed captions, for tests: ffmpeg has no encoder for them, so the captions
are written here, as broadcast encoders do, into ATSC A/53 SEI messages (one per frame) of a raw H.264
stream that x264 wrote with access unit delimiters, then remuxed to MP4 by ffmpeg.

Pop-on captions, field 1 (CC1): each cue's characters are loaded into the back buffer (RCL) before it is
due, shown on its frame (EOC) and erased (EDM) on its last; control codes are sent twice, as the standard
asks. References: CTA-608-E (codes), ATSC A/53 part 4 (cc_data), H.264 D.1.6 (registered user data SEI).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.media import ffmpeg_exe

RCL, EOC, EDM = 0x20, 0x2F, 0x2C  # resume caption loading, end of caption, erase displayed memory
Pair = tuple[int, int] | None  # the two bytes of one frame (None: padding)
AUD = b"\x00\x00\x00\x01\x09"


def _odd(byte: int) -> int:
    return byte | (0x80 if bin(byte).count("1") % 2 == 0 else 0)


def _control(code: int) -> list[Pair]:
    return [(0x14, code), (0x14, code)]


def pop_on(cues: list[tuple[int, int, str]], frames: int) -> list[Pair]:
    """One byte pair per frame for `cues` (first frame shown, frame erased, text of basic characters)."""
    out: list[Pair] = [None] * frames
    for shown, gone, text in cues:
        chars = [ord(c) for c in text] + [0] * (len(text) % 2)
        load = _control(RCL) + [(chars[i], chars[i + 1]) for i in range(0, len(chars), 2)]
        start = shown - len(load)
        free = all(p is None for p in out[start : shown + 2] + out[gone : gone + 2])
        assert start >= 0 and gone + 2 <= frames and free, "cues overlap, or do not fit"
        out[start : shown + 2] = [*load, *_control(EOC)]
        out[gone : gone + 2] = _control(EDM)
    return out


def _sei(pair: Pair) -> bytes:
    a, b = pair or (0, 0)
    cc = bytes([0xFC if pair else 0xF8, _odd(a), _odd(b)])  # marker bits, cc_valid, cc_type 0 (field 1)
    # itu_t_t35 country (USA), provider (ATSC), "GA94", cc_data type; process_cc_data_flag + cc_count 1, em_data
    payload = b"\xb5\x00\x31GA94\x03\x41\xff" + cc + b"\xff"
    body = bytes([4, len(payload)]) + payload + b"\x80"  # payload type 4 (registered user data), stop bit
    escaped = bytearray()
    for byte in body:  # emulation prevention: no 00 00 0x (x <= 3) inside a NAL unit
        if len(escaped) >= 2 and escaped[-2:] == b"\x00\x00" and byte <= 3:
            escaped.append(3)
        escaped.append(byte)
    return b"\x00\x00\x00\x01\x06" + bytes(escaped)


def with_sei(h264: bytes, pairs: list[Pair], first: int = 0) -> bytes:
    """`h264` (Annex B, an AUD opening each access unit) with one cc_data SEI per frame from frame `first`."""
    units = h264.split(AUD)
    assert units[0] == b"" and len(units) - 1 == len(pairs), (len(units) - 1, len(pairs))
    out = bytearray()
    for number, (unit, pair) in enumerate(zip(units[1:], pairs, strict=True)):
        sei = _sei(pair) if number >= first else b""
        out += AUD + unit[:1] + sei + unit[1:]  # the AUD's one byte, then the SEI before the slices
    return bytes(out)


def captioned_clip(
    dest: Path, cues: list[tuple[int, int, str]], *, seconds: int = 4, rate: int = 30, first: int = 0
) -> Path:
    """A 320x180 H.264 MP4 of `seconds` at `rate` fps with `cues` as CC1 (frames counted from 0); no SEI
    before frame `first`."""
    raw = dest.with_suffix(".h264")
    argv = [ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", "-f", "lavfi"]
    argv += ["-i", f"testsrc2=size=320x180:rate={rate}:duration={seconds}", "-c:v", "libx264", "-preset", "ultrafast"]
    # No B-frames: decode order is display order, so each frame's captions go out with it.
    argv += ["-bf", "0", "-x264-params", "aud=1", "-f", "h264", str(raw)]
    subprocess.run(argv, check=True)
    raw.write_bytes(with_sei(raw.read_bytes(), pop_on(cues, seconds * rate), first))
    argv = [ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", "-framerate", str(rate), "-i", str(raw)]
    subprocess.run([*argv, "-c", "copy", str(dest)], check=True)
    return dest
