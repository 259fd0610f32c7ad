"""CMCD (CTA-5004) parsing: the keys QoE uses, from the query or the headers, with a bounded cost
and never an error for garbage."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest

from cdn_edge.cmcd import Cmcd, parse_cmcd, split_headers, split_query
from tests.cdn_edge.qoe_implementations import PARSERS

Parse = Callable[..., Cmcd]

SID = "6e2fb550-c457-11e9-bb97-0800200c9a66"
# The example of CTA-5004 section 3.2 (all keys), as hls.js would put it in the query.
SPEC_EXAMPLE = (
    'bl=21300,br=3200,bs,cid="faec5fc2-ac30-11eabb37-0242ac130002",d=4004,dl=18500,mtp=48100,'
    f'nor="..%2F300kbps%2Ftrack.m4v",nrr="12323-48763",ot=v,pr=1.08,rtp=12000,sf=d,sid="{SID}",st=v,su,tb=6000'
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (SPEC_EXAMPLE, Cmcd(SID, su=True, bs=True, bl=21300, br=3200, mtp=48100, ot="v")),
        (f'br=730,ot=av,sid="{SID}"', Cmcd(SID, br=730, ot="av")),
        ('ot=m,sid="s1",su', Cmcd("s1", su=True, ot="m")),
        ('bs=false,su=true,sid="s"', Cmcd("s", su=True)),
        ("", Cmcd()),
        ("garbage", Cmcd()),
        (",,,=,==,", Cmcd()),
        ("br=-5,bl=1e3,mtp=99999999999,ot=zz", Cmcd()),  # no sign, no exponent, bounded, known types
        ("br= 5,bl=+5", Cmcd()),
        ("sid=unquoted,br=1", Cmcd(br=1)),
        (f'sid="{"x" * 65}"', Cmcd()),  # longer than MAX_SID: not a session id we keep
        ('sid="a\\"b"', Cmcd('a"b')),
        ('sid=""', Cmcd()),
        ('cid="a,b",br=300,ot=v', Cmcd(br=300, ot="v")),  # a comma inside a string separates nothing
        ('nor="..%2Fseg.m4s",sid="s%2Fx"', Cmcd("s%2Fx")),  # CMCD's own escapes are kept as sent
    ],
)
@pytest.mark.parametrize("parse", PARSERS)
def test_parse(parse: Parse, raw: str, expected: Cmcd) -> None:
    assert parse(raw.encode(), encoded=False) == expected
    assert parse(quote(raw, safe="").encode(), encoded=True) == expected


@pytest.mark.parametrize("parse", PARSERS)
def test_the_cost_is_bounded_whatever_is_sent(parse: Parse) -> None:
    huge = ("br=1," * 100_000 + 'sid="late"').encode()
    assert parse(huge, encoded=False) == Cmcd(br=1)  # the sid past the bound is never read
    assert parse(b"br=1,br=2,ot=v,ot=a", encoded=False) == Cmcd(br=1, ot="v")  # each key's first
    assert parse(b"br%3d300%2cot%3dv", encoded=True) == Cmcd(br=300, ot="v")  # lower-case hex


@pytest.mark.parametrize(
    ("query", "cmcd", "rest"),
    [
        (b"", None, b""),
        (b"token=abc", None, b"token=abc"),
        (b"CMCD=br%3D300", b"br%3D300", b""),
        (b"token=abc&CMCD=br%3D300", b"br%3D300", b"token=abc"),
        (b"CMCD=br%3D1&x=1&CMCD=br%3D2", b"br%3D1", b"x=1"),  # the first counts, every one is removed
        (b"xCMCD=1", None, b"xCMCD=1"),
    ],
)
def test_split_query(query: bytes, cmcd: bytes | None, rest: bytes) -> None:
    assert split_query(query) == (cmcd, rest)


def test_split_headers() -> None:
    headers = [
        (b"host", b"e"),
        (b"cmcd-object", b"br=300,ot=v"),
        (b"range", b"bytes=0-"),
        (b"cmcd-session", b'sid="s"'),
    ]
    values, rest = split_headers(headers)
    assert values == [b"br=300,ot=v", b'sid="s"'] and rest == [(b"host", b"e"), (b"range", b"bytes=0-")]
    assert parse_cmcd(b",".join(values), encoded=False) == Cmcd("s", br=300, ot="v")
