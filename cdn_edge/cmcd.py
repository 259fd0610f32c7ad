"""Common Media Client Data (CTA-5004): what a player tells the CDN on each request. Pure.

Players send it as one query parameter (`CMCD=<percent-encoded list>`) or in four headers
(CMCD-Request, CMCD-Object, CMCD-Status, CMCD-Session), each a comma-separated list of `key=value`
or a lone `key` (a true boolean). Only the keys the QoE metrics use are kept: session id (sid),
startup (su), buffer starvation (bs), buffer length (bl, ms), encoded bitrate (br, kbps), measured
throughput (mtp, kbps) and object type (ot).

Cost is bounded whatever the client sends: at most MAX_CMCD_BYTES of CMCD are read and at most
MAX_PAIRS pairs; a value that does not parse (a bad number, an unknown object type, a session id
longer than MAX_SID) is dropped, never an error: CMCD is advice, and a garbled one must not change
the answer to the request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

MAX_CMCD_BYTES = 1024  # the spec keeps a full payload well under this
MAX_PAIRS = 32  # the spec defines fewer keys than this
MAX_SID = 64  # bytes; the spec recommends a UUID (36)
MAX_NUMBER = 10**9  # kbps or ms: anything larger is not a real player's
# m: manifest, a/v/av: audio, video, muxed media, i: init segment, c: caption, tt: timed text,
# k: key, o: other.
OBJECT_TYPES = frozenset(("m", "a", "v", "av", "i", "c", "tt", "k", "o"))
MEDIA_TYPES = frozenset(("a", "v", "av"))
HEADER_PREFIX = b"cmcd-"
_QUERY_KEY = b"CMCD="


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
    if _QUERY_KEY not in query:
        return None, query
    found: bytes | None = None
    rest = []
    for part in query.split(b"&"):
        if part.startswith(_QUERY_KEY):
            if found is None:
                found = part[len(_QUERY_KEY) :]
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
    header values are joined with b"," by the caller: the four headers form one list."""
    raw = raw[:MAX_CMCD_BYTES]
    if encoded:
        raw = unquote_to_bytes(raw)[:MAX_CMCD_BYTES]
    text = raw.decode("latin-1")
    sid: str | None = None
    su = bs = False
    bl = br = mtp = None
    ot: str | None = None
    for pair in text.split(",", MAX_PAIRS)[:MAX_PAIRS]:
        key, eq, value = pair.strip().partition("=")
        if key == "sid":
            if eq and len(value) >= 2 and value[0] == value[-1] == '"' and len(value) - 2 <= MAX_SID:
                sid = value[1:-1].replace('\\"', '"').replace("\\\\", "\\") or None
        elif key == "su":
            su = _boolean(eq, value)
        elif key == "bs":
            bs = _boolean(eq, value)
        elif key == "bl":
            bl = _integer(value)
        elif key == "br":
            br = _integer(value)
        elif key == "mtp":
            mtp = _integer(value)
        elif key == "ot":
            ot = value if value in OBJECT_TYPES else None
    return Cmcd(sid, su, bs, bl, br, mtp, ot)


def _boolean(eq: str, value: str) -> bool:
    # A lone key is true; the spec never sends "=true", but "=false" is tolerated as false.
    return not eq or value == "true"


def _integer(value: str) -> int | None:
    if not value.isdigit() or len(value) > 10:  # isdigit: no sign, no spaces, no exponent
        return None
    number = int(value)
    return number if number <= MAX_NUMBER else None
