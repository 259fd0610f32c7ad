"""The compiled CMCD tracker (cdn_edge/qoe_compiled.pyx) against the reference (cdn_edge/qoe.py and
cdn_edge/cmcd.py): the same random and adversarial lists, targets and sessions give the same Cmcd
values, the same cut targets and the same metrics; the compiled one, parsing bytes from the internet
in C, never raises on any of them."""

from __future__ import annotations

import random
from collections.abc import Callable
from urllib.parse import quote

import pytest
from prometheus_client import CollectorRegistry

from cdn_edge.cmcd import MAX_CMCD_BYTES, Cmcd, parse_cmcd
from cdn_edge.qoe import QoeMetrics, QoeTracker
from tests.cdn_edge.edge_stack import ManualClock
from tests.cdn_edge.qoe_implementations import compiled

qoe_compiled = compiled()
pytestmark = pytest.mark.skipif(qoe_compiled is None, reason="cdn_edge.qoe_compiled was not built")

# Pieces an attacker or a broken player may send, spelled both ways (encoded: as in the query).
KEYS = [b"sid", b"su", b"bs", b"bl", b"br", b"mtp", b"ot", b"cid", b"nor", b"s", b"b", b"mt", b"o", b"SID", b"sidx"]
VALUES = [
    b"", b"0", b"730", b"12000", b"1000000000", b"1000000001", b"99999999999", b"-5", b"+5", b"1e3", b" 5",
    b"500", b"2000", b"64000", b"64001",  # on and past the throughput histogram's bounds (le: a bound is in)
    b"true", b"false", b"v", b"a", b"av", b"i", b"m", b"tt", b"zz", b"\x00", b"\xff\xfe", "ü".encode(),
    b'"s1"', b'"48c4ee54-2a2b-4a6c-9b3e-5b1f0c8d7e61"', b'"a,b"', b'"q\\"x"', b'"b\\\\s"', b'"100%"', b'""',
    b'"' + b"x" * 64 + b'"', b'"' + b"x" * 65 + b'"', b'"%41%4"', b'"\xc3("', b'"sp ace"', b'"',
]  # fmt: skip
GARBAGE = [b"%", b"%2", b"%2C", b"%2c", b"%3D", b"%3d", b"%22", b"%%", b",", b"=", b'"', b"&", b"?", b"#", b"\x00"]


def random_list(rnd: random.Random) -> bytes:
    """A plain CMCD list: keys in any order, repeated or not, with values good and bad, and garbage."""
    parts = []
    for _ in range(rnd.randint(0, 14)):
        key = rnd.choice(KEYS)
        roll = rnd.random()
        if roll < 0.15:
            parts.append(key)  # a lone key: a true boolean
        elif roll < 0.25:
            parts.append(b"".join(rnd.choice(GARBAGE + VALUES) for _ in range(rnd.randint(1, 4))))
        else:
            parts.append(key + b"=" + rnd.choice(VALUES))
    return b",".join(parts)


def encodings(listed: bytes, rnd: random.Random) -> list[bytes]:
    """How `listed` may reach the query: as encodeURIComponent writes it, in lower-case hex, or
    half-encoded (separators only)."""
    upper = quote(listed, safe="").encode()
    lower = upper.replace(b"%2C", b"%2c").replace(b"%3D", b"%3d").replace(b"%22", b"%22")
    half = listed.replace(b",", b"%2C").replace(b"=", b"%3D")
    cut = upper[: rnd.randint(0, len(upper))]  # truncated anywhere, escapes too
    return [upper, lower, half, cut]


def adversarial_lists() -> list[bytes]:
    long_valid = b",".join([b"br=1"] * 300) + b',sid="late"'  # the sid past MAX_CMCD_BYTES
    edge = b"x" * (MAX_CMCD_BYTES - 9) + b',sid="ab"'  # a sid cut by the bound: its closing quote
    return [
        long_valid, edge, b'sid="' + b"\\" * 70 + b'"', b",,,,,=,==,", b"sid=" * 300, b"%2C" * 400, b"%" * 1100,
        b'sid="a%2Cb",br=1', b"su,su,bs=true,bs", b"\x00" * 64, bytes(range(256)), b'sid="\x80\x81"', b"=" * 2000,
    ]  # fmt: skip


def test_the_parsers_agree_on_random_and_adversarial_lists() -> None:
    assert qoe_compiled is not None
    rnd = random.Random(16)
    cases = adversarial_lists()
    for _ in range(3000):
        listed = random_list(rnd)
        cases += [listed, *encodings(listed, rnd)]
    for raw in cases:
        for encoded in (True, False):
            assert qoe_compiled.parse_cmcd(raw, encoded=encoded) == parse_cmcd(raw, encoded=encoded), (raw, encoded)


def random_target(rnd: random.Random) -> bytes:
    path = rnd.choice([b"/a/360p/seg_00001.m4s", b"/a/master.m3u8", b"/a/init.mp4", b"/a/x.ts", b"/a/seg.m4%73",
                       b"/a/seg%2Em4s", b"/a/seg.m4s#frag", b"/a/%E2.aac", b"/a/%zz.m4v", b"/s", b"/", b"", b"x.m4s",
                       b"http://edge/a/seg.m4s"])  # fmt: skip
    cmcd = quote(random_list(rnd), safe="").encode()
    query = rnd.choice([b"?CMCD=" + cmcd, b"?CMCD=" + cmcd, b"?CMCD=" + cmcd + b"&x=1", b"?x=1&CMCD=" + cmcd,
                        b"?CMCD=" + cmcd + b"?", b"?cmcd=" + cmcd, b"", b"?CMCD="])  # fmt: skip
    return path + query


Tracker = QoeTracker  # the compiled one has the same surface (cdn_edge/qoe_compiled.pyi)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in registry.collect()
        if metric.name.startswith("vodstack_qoe") and metric.name != "vodstack_qoe_implementation"
        for s in metric.samples
        if not s.name.endswith("_created")  # when the metric was made: a wall-clock time
    }


@pytest.mark.parametrize("sample_one_in", [1, 3])
def test_the_trackers_agree_on_random_sessions(sample_one_in: int) -> None:
    """The same requests (targets cut by take_target, queries and headers by take), beacons, clock
    steps and scrapes, with a small table (evictions) and a short TTL (expiries): the same cut
    targets, sessions and metrics after every scrape."""
    assert qoe_compiled is not None
    rnd = random.Random(5004 + sample_one_in)
    trackers: list[tuple[Tracker, CollectorRegistry, ManualClock]] = []
    for cls in (QoeTracker, qoe_compiled.QoeTracker):
        clock, registry = ManualClock(), CollectorRegistry()
        tracker = cls(
            QoeMetrics("edge", registry), clock, ttl=40.0, max_sessions=12 // sample_one_in, sample_one_in=sample_one_in
        )
        trackers.append((tracker, registry, clock))  # type: ignore[arg-type]
    sids = [f'"s{i}"'.encode() for i in range(30)] + [b'"a%2Cb"', b'"\\"q"', b'"%C3%BC"']

    def both(action: Callable[[Tracker], object]) -> None:
        results = [action(tracker) for tracker, _, _ in trackers]
        assert results[0] == results[1]

    for step in range(4000):
        roll = rnd.random()
        advance = rnd.choice([0.0, 0.0, 0.0, 0.05, 0.1, 0.3, 1.0, 9.0, 35.0])  # past MAX_GAP too
        for _, _, clock in trackers:
            clock.advance(advance)
        sid = rnd.choice(sids)
        listed = random_list(rnd)
        if rnd.random() < 0.8:  # most requests name a session, as players do
            listed += b",sid=" + sid
        if roll < 0.55:
            encoded = quote(listed, safe="").encode()
            target = rnd.choice([b"/a/360p/seg_00001.m4s", b"/a/master.m3u8", b"/a/s%2Em4s"]) + b"?CMCD=" + encoded
            if roll < 0.05:
                target = random_target(rnd)
            both(lambda t, target=target: t.take_target(target))  # type: ignore[misc]
        elif roll < 0.75:
            query = b"CMCD=" + quote(listed, safe="").encode() + rnd.choice([b"", b"&token=x"])
            both(lambda t, q=query: t.take("a/360p/seg_00001.m4s", q, [], False))  # type: ignore[misc]
        elif roll < 0.85:
            headers = [(b"host", b"e"), (b"cmcd-object", listed), (b"cmcd-session", b"sid=" + sid)]
            both(lambda t, h=headers: t.take("a/seg.m4s", b"", h, True))  # type: ignore[misc]
        elif roll < 0.95:
            text = sid.decode("latin-1").strip('"')
            event = rnd.choice(["start", "error"])
            seconds = rnd.choice([None, 0.5, 2.0])
            both(lambda t, s=text, e=event, x=seconds: t.beacon(s, e, x))  # type: ignore[misc]
        else:
            for tracker, _, _ in trackers:
                tracker.flush()
            (_, reference, _), (_, built, _) = trackers
            assert samples(built) == samples(reference), step
            assert sorted(trackers[1][0].sessions) == sorted(trackers[0][0].sessions), step
    for tracker, _, _ in trackers:
        tracker.flush()
    assert samples(trackers[1][1]) == samples(trackers[0][1])
    assert samples(trackers[0][1])[("vodstack_qoe_sessions_dropped_total", (("node", "edge"),))] > 0
    assert samples(trackers[0][1])[("vodstack_qoe_start_failures_total", (("node", "edge"),))] > 0


def test_a_cmcd_object_the_parser_never_makes_is_observed_alike() -> None:
    """observe() with values only a caller can make (an unknown object type)."""
    assert qoe_compiled is not None
    results = []
    for cls in (QoeTracker, qoe_compiled.QoeTracker):
        registry = CollectorRegistry()
        tracker = cls(QoeMetrics("edge", registry), ManualClock())
        tracker.observe(Cmcd("s", ot="zz", br=700), "a/seg.m4s")
        tracker.observe(Cmcd("s", ot=None, br=700), "a/seg.m4s")
        tracker.flush()
        results.append(samples(registry))
    assert results[0] == results[1]
