"""Common Media Client Data (CTA-5004): what a player tells the CDN on each request. Pure.

Players send it as one query parameter (`CMCD=<percent-encoded list>`) or in four headers
(CMCD-Request, CMCD-Object, CMCD-Status, CMCD-Session), each a comma-separated list of `key=value`
or a lone `key` (a true boolean). Only the keys the QoE metrics use are kept: session id (sid),
startup (su), buffer starvation (bs), buffer length (bl, ms), encoded bitrate (br, kbps), measured
throughput (mtp, kbps) and object type (ot).

Cost is bounded whatever the client sends: at most MAX_CMCD_BYTES of CMCD are read, each key
looked up once; a value that does not parse (a bad number, an unknown object type, a session id
longer than MAX_SID) is dropped, never an error: CMCD is advice, and a garbled one must not change
the answer to the request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

MAX_CMCD_BYTES = 1024  # the spec keeps a full payload well under this
MAX_SID = 64  # bytes; the spec recommends a UUID (36)
MAX_NUMBER = 10**9  # kbps or ms: anything larger is not a real player's
# m: manifest, a/v/av: audio, video, muxed media, i: init segment, c: caption, tt: timed text,
# k: key, o: other.
OBJECT_TYPES = frozenset(("m", "a", "v", "av", "i", "c", "tt", "k", "o"))
MEDIA_TYPES = frozenset(("a", "v", "av"))
HEADER_PREFIX = b"cmcd-"
QUERY_KEY = b"CMCD="
# (separator, key-value, quote) as sent in the query (percent-encoded, as encodeURIComponent does:
# upper-case hex) and in headers.
_ENCODED = (b"%2C", b"%3D", b"%22")
_PLAIN = (b",", b"=", b'"')


@dataclass(frozen=True, slots=True)
class Cmcd:
    sid: str | None = None
    su: bool = False
    bs: bool = False
    bl: int | None = None  # ms of media buffered
    br: int | None = None  # kbps of the object's rendition
    mtp: int | None = None  # kbps the player measured
    ot: str | None = None


def split_query(query: bytes) -> tuple[bytes | None, bytes]:
    """(the raw CMCD parameter's value or None, the query without it). Other parameters keep their
    order and bytes, so a signed URL's token still reaches the general handler as sent."""
    if QUERY_KEY not in query:
        return None, query
    if query.startswith(QUERY_KEY) and b"&" not in query:
        return query[len(QUERY_KEY) :], b""  # what players send: nothing but CMCD
    found: bytes | None = None
    rest = []
    for part in query.split(b"&"):
        if part.startswith(QUERY_KEY):
            if found is None:
                found = part[len(QUERY_KEY) :]
        elif part:
            rest.append(part)
    return found, b"&".join(rest)


def split_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[list[bytes], list[tuple[bytes, bytes]]]:
    """(the values of the CMCD-* headers, the other headers). Names are lower-case (as parsed)."""
    values: list[bytes] = []
    rest: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if name.startswith(HEADER_PREFIX):
            values.append(value)
        else:
            rest.append((name, value))
    return values, rest


def parse_cmcd(raw: bytes, *, encoded: bool) -> Cmcd:
    """The keys we use from one CMCD list (`encoded`: percent-encoded, as in the query). Several
    header values are joined with b"," by the caller: the four headers form one list.

    Each key is looked up with bytes.find on the list as sent (its first occurrence counts): no
    decoding and no split of the whole list, a constant number of scans of at most MAX_CMCD_BYTES
    (measured: bench/edge_protocol_cpu.py --cmcd). A string value cut by a separator inside its
    quotes (a sid with a comma) is dropped."""
    raw = raw[:MAX_CMCD_BYTES]
    if encoded and (b"%2c" in raw or b"%3d" in raw):
        raw = raw.replace(b"%2c", b"%2C").replace(b"%3d", b"%3D")  # lower-case hex: rare, still valid
    separator, equals, quote = _ENCODED if encoded else _PLAIN
    listed = separator + raw + separator  # every key is then preceded and followed by a separator
    sid_value = _value(listed, b"sid", separator, equals)
    ot_value = _value(listed, b"ot", separator, equals)
    ot = ot_value.decode("latin-1") if ot_value is not None else None
    return Cmcd(
        sid=_string(sid_value, quote, encoded) if sid_value is not None else None,
        su=_flag(listed, b"su", separator, equals),
        bs=_flag(listed, b"bs", separator, equals),
        bl=_integer(_value(listed, b"bl", separator, equals)),
        br=_integer(_value(listed, b"br", separator, equals)),
        mtp=_integer(_value(listed, b"mtp", separator, equals)),
        ot=ot if ot in OBJECT_TYPES else None,
    )


def _value(listed: bytes, key: bytes, separator: bytes, equals: bytes) -> bytes | None:
    """The bytes after `key=` up to the next separator, None when the key has no value here."""
    prefix = separator + key + equals
    start = listed.find(prefix)
    if start < 0:
        return None
    start += len(prefix)
    return listed[start : listed.find(separator, start)]


def _flag(listed: bytes, key: bytes, separator: bytes, equals: bytes) -> bool:
    # A lone key is true; the spec never sends "=true", but it and "=false" are understood.
    if separator + key + separator in listed:
        return True
    return _value(listed, key, separator, equals) == b"true"


def _string(value: bytes, quote: bytes, encoded: bool) -> str | None:
    if len(value) < 2 * len(quote) or not (value.startswith(quote) and value.endswith(quote)):
        return None
    return sid_text(value[len(quote) : -len(quote)], encoded)


def sid_text(inner: bytes, encoded: bool) -> str | None:
    """A CMCD string's text from the bytes between its quotes (percent-decoded if `encoded`, then its
    escapes undone), None when empty or longer than MAX_SID bytes. (cdn_edge.qoe_compiled decodes plain
    ASCII itself and calls this for the rest.)"""
    if encoded and b"%" in inner:
        inner = unquote_to_bytes(inner)
    text = inner.decode("utf-8", "replace").replace('\\"', '"').replace("\\\\", "\\")
    return text if 0 < len(text.encode()) <= MAX_SID else None


def _integer(value: bytes | None) -> int | None:
    if value is None or not value.isdigit() or len(value) > 10:  # isdigit: no sign, no spaces, no exponent
        return None
    number = int(value)
    return number if number <= MAX_NUMBER else None
