"""CMCD at a real edge (cdn_edge.protocol over sockets, and FastHits in the app): observed on hits
and misses, never part of the cache key or the upstream request, a CMCD-only query still a fast hit;
and the POST /qoe beacon: validated, size-bounded, rate-limited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from cdn_edge.app import create_app as create_edge
from cdn_edge.beacon import MAX_BEACON_BYTES
from tests.cdn_edge.conftest import serving
from tests.cdn_edge.edge_stack import MASTER, SEGMENT, SEGMENT_BYTES, ManualClock, edge_settings, make_origin
from tests.cdn_edge.qoe_implementations import IMPLEMENTATIONS
from tests.cdn_edge.test_metrics import scrape, value

NODE = {"node": "edge"}
S1 = '"s1"'  # a CMCD string: quoted


class Queries:
    """The real origin, recording the query string of every request that reaches it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[tuple[str, bytes, list[bytes]]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            names = [name for name, _ in scope["headers"]]
            self.seen.append((scope["path"], scope["query_string"], names))
        await self.app(scope, receive, send)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def origin(tmp_path: Path) -> Queries:
    return Queries(make_origin(tmp_path))


@pytest.fixture(params=["protocol", "asgi"])
def server(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def edge(server: str, implementation: str, tmp_path: Path, origin: Queries, clock: ManualClock) -> Iterator[str]:
    with serving(origin) as o:
        settings = edge_settings(
            tmp_path, "edge", "edge", o.url, qoe_beacon_rate="3/minute", qoe_implementation=implementation
        )
        app = create_edge(settings, clock=clock)
        # "asgi": uvicorn's own protocol, so FastHits in the app takes CMCD off instead.
        options: dict[str, object] = {"http": "httptools"} if server == "asgi" else {}
        with serving(app, 0, **options) as server:
            yield server.url


def cmcd_query(**keys: str) -> str:
    return "CMCD=" + quote(",".join(f"{k}={v}" if v else k for k, v in sorted(keys.items())), safe="")


def test_cmcd_is_observed_and_kept_out_of_the_cache_key_and_the_upstream(
    edge: str, origin: Queries, clock: ManualClock
) -> None:
    with httpx.Client(base_url=edge) as client:
        master = client.get(f"/{MASTER}?{cmcd_query(sid=S1, ot='m', su='')}")
        assert master.status_code == 200
        clock.advance(0.8)
        first = client.get(f"/{SEGMENT}?{cmcd_query(sid=S1, ot='v', br='730', bl='0')}")
        clock.advance(4)
        # Headers mode, another session: the same cached object.
        second = client.get(f"/{SEGMENT}", headers={"CMCD-Object": "br=2500,ot=v", "CMCD-Session": 'sid="s2"'})
        third = client.get(f"/{SEGMENT}?{cmcd_query(sid=S1, ot='v', br='730', bl='4000', bs='')}")
    assert first.content == second.content == third.content == SEGMENT_BYTES
    assert third.headers["cache-status"].endswith("; hit")
    upstream = [(path, query, names) for path, query, names in origin.seen if path.endswith(SEGMENT)]
    assert len(upstream) == 1, origin.seen  # one fill: CMCD did not fragment the cache
    assert all(q == b"" and not any(n.startswith(b"cmcd") for n in names) for _, q, names in origin.seen)
    samples = scrape(edge)
    assert value(samples, "vodstack_qoe_sessions_total", **NODE) == 2
    assert value(samples, "vodstack_qoe_startup_seconds_count", **NODE, source="edge") == 2
    assert value(samples, "vodstack_qoe_startup_seconds_sum", **NODE, source="edge") == pytest.approx(0.8)
    assert value(samples, "vodstack_qoe_media_requests_total", **NODE, rung="le800k") == 2
    assert value(samples, "vodstack_qoe_media_requests_total", **NODE, rung="le3000k") == 1
    assert value(samples, "vodstack_qoe_rebuffer_events_total", **NODE) == 1


def test_a_query_of_only_cmcd_is_still_answered_by_the_protocol(tmp_path: Path, clock: ManualClock) -> None:
    app = create_edge(edge_settings(tmp_path, "edge", "edge", "http://upstream"), clock=clock,
                      transport=httpx.ASGITransport(make_origin(tmp_path)))  # fmt: skip
    with serving(app) as server, httpx.Client(base_url=server.url) as client:
        for _ in range(3):
            client.get(f"/{SEGMENT}").raise_for_status()
        before = app.state.hits.direct
        assert before > 0
        reply = client.get(f"/{SEGMENT}?{cmcd_query(sid=S1, ot='v', br='730')}")
        assert reply.content == SEGMENT_BYTES and app.state.hits.direct == before + 1
        other = client.get(f"/{SEGMENT}?x=1&{cmcd_query(sid=S1)}")
        assert other.content == SEGMENT_BYTES and app.state.hits.direct == before + 1  # another query: the app


def test_a_sampling_edge_counts_each_followed_session_for_n(
    tmp_path: Path, clock: ManualClock, implementation: str
) -> None:
    # Through the protocol's short way (a query of only CMCD): a followed session counts 4 times,
    # one the sample leaves out not at all, and both are still fast hits without CMCD.
    settings = edge_settings(
        tmp_path, "edge", "edge", "http://upstream", qoe_sample_one_in=4, qoe_implementation=implementation
    )
    app = create_edge(settings, clock=clock, transport=httpx.ASGITransport(make_origin(tmp_path)))
    qoe = app.state.qoe
    sids = [f"{i:08x}-2a2b-4a6c-9b3e-5b1f0c8d7e61" for i in range(64)]
    followed = next(sid for sid in sids if qoe.tracks(sid))
    left_out = next(sid for sid in sids if not qoe.tracks(sid))
    with serving(app) as server, httpx.Client(base_url=server.url) as client:
        for _ in range(3):
            client.get(f"/{SEGMENT}").raise_for_status()
        before = app.state.hits.direct
        for sid in (followed, left_out):
            reply = client.get(f"/{SEGMENT}?{cmcd_query(br='730', ot='v', sid=f'{chr(34)}{sid}{chr(34)}')}")
            assert reply.content == SEGMENT_BYTES
        assert app.state.hits.direct == before + 2
        samples = scrape(server.url)
    assert list(qoe.sessions.keys()) == [followed]
    assert value(samples, "vodstack_qoe_sessions_total", **NODE) == 4
    assert value(samples, "vodstack_qoe_media_requests_total", **NODE, rung="le800k") == 4


def test_the_shield_tracks_no_qoe(tmp_path: Path) -> None:
    app = create_edge(edge_settings(tmp_path, "shield", "shield", "http://127.0.0.1:9"))
    with serving(app) as server:
        reply = httpx.post(f"{server.url}/qoe", content=b'{"sid": "s", "event": "start"}')
        assert reply.status_code == 404 and reply.json()["error"] == "beacon_disabled"
        assert not any(name.startswith("vodstack_qoe") for name, _ in scrape(server.url))


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"not json", 400, "beacon_invalid"),
        (b'{"sid": "s", "event": "start", "extra": 1}', 400, "beacon_invalid"),
        (b'{"sid": "s", "event": "boom"}', 400, "beacon_invalid"),
        (b'{"sid": "", "event": "start"}', 400, "beacon_invalid"),
        (b'{"sid": "s", "event": "start", "startup_ms": -1}', 400, "beacon_invalid"),
        (b'{"sid": "s", "event": "start", "startup_ms": 600001}', 400, "beacon_invalid"),
        (json.dumps({"sid": "s", "event": "error", "error": "x" * MAX_BEACON_BYTES}).encode(), 413, "beacon_too_large"),
    ],
)
def test_bad_beacons_are_refused_with_a_reason(edge: str, body: bytes, status: int, error: str) -> None:
    reply = httpx.post(f"{edge}/qoe", content=body, headers={"content-type": "text/plain"})
    assert reply.status_code == status and reply.json()["error"] == error, reply.text
    assert reply.json()["detail"]
    samples = scrape(edge)
    assert value(samples, "vodstack_qoe_beacons_total", **NODE, outcome="invalid") == 1
    assert value(samples, "vodstack_qoe_beacons_total", **NODE, outcome="accepted") == 0


def test_a_chunked_beacon_over_the_bound_is_refused(edge: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"sid": "s", "event": "error", "error": "'
        for _ in range(100):
            yield b"x" * 100

    reply = httpx.post(f"{edge}/qoe", content=chunks())
    assert reply.status_code == 413


def test_beacons_count_and_are_rate_limited_per_client(edge: str) -> None:
    start = b'{"sid": "s1", "event": "start", "startup_ms": 850}'
    fail = b'{"sid": "s2", "event": "error", "error": "manifest 404"}'
    assert [httpx.post(f"{edge}/qoe", content=body).status_code for body in (start, fail, start)] == [204, 204, 204]
    limited = httpx.post(f"{edge}/qoe", content=start)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    samples = scrape(edge)
    assert value(samples, "vodstack_qoe_startup_seconds_count", **NODE, source="player") == 2
    assert value(samples, "vodstack_qoe_startup_seconds_sum", **NODE, source="player") == pytest.approx(1.7)
    assert value(samples, "vodstack_qoe_start_failures_total", **NODE) == 1
    assert value(samples, "vodstack_qoe_beacons_total", **NODE, outcome="limited") == 1


SID_CMCD = cmcd_query(sid=S1, ot="v", br="730")


@pytest.mark.parametrize(
    "query",
    [
        SID_CMCD,  # the protocol's cut: nothing but CMCD
        f"a=1&{SID_CMCD}&b=2",  # in the middle
        f"{SID_CMCD}&{SID_CMCD}",  # two CMCD keys
        f"token=abc&{SID_CMCD}",
        f"token=abc?{SID_CMCD}",  # one parameter, `token`, not CMCD
        "CMCD%3Dbr%3D730",  # a parameter named `CMCD=br=730`: not CMCD
        "CMCD=",  # an empty list
    ],
)
def test_cmcd_anywhere_in_the_query_never_fragments_the_cache(edge: str, origin: Queries, query: str) -> None:
    # A segment's cache key has no query: the plain request's fill serves every spelling.
    with httpx.Client(base_url=edge) as client:
        replies = [client.get(f"/{SEGMENT}"), *(client.get(f"/{SEGMENT}?{query}") for _ in range(2))]
    assert [r.status_code for r in replies] == [200, 200, 200]
    assert all(r.content == SEGMENT_BYTES for r in replies)
    assert [q for path, q, _ in origin.seen if path.endswith(SEGMENT)] == [b""]


def test_cmcd_beside_a_clip_range_keeps_the_range(edge: str, origin: Queries) -> None:
    with httpx.Client(base_url=edge) as client:
        replies = [
            client.get(f"/{MASTER}?{query}")
            for query in (SID_CMCD, f"{SID_CMCD}&start=0&end=4", f"start=0&{SID_CMCD}&end=4", SID_CMCD)
        ]
    assert [r.status_code for r in replies] == [200] * 4
    assert replies[0].content == replies[3].content
    # The clip's variants carry its range (origin.clips): the whole playlist is not the clip.
    assert replies[1].content == replies[2].content != replies[0].content
    upstream = sorted(q for path, q, _ in origin.seen if path.endswith(MASTER))
    # The whole playlist once, the clip once with its range and without CMCD: never one for the other.
    assert upstream in ([b"", b"end=4&start=0"], [b"", b"start=0&end=4"]), upstream


@pytest.mark.parametrize("sample_one_in", [1, 7])
def test_the_protocols_cut_observes_the_session_it_follows(
    tmp_path: Path, clock: ManualClock, sample_one_in: int, implementation: str
) -> None:
    settings = edge_settings(
        tmp_path, "edge", "edge", "http://upstream", qoe_sample_one_in=sample_one_in, qoe_implementation=implementation
    )
    app = create_edge(settings, clock=clock, transport=httpx.ASGITransport(make_origin(tmp_path)))
    qoe = app.state.qoe
    sid = next(f"s{i}" for i in range(10_000) if qoe.tracks(f"s{i}"))
    left_out = [f"s{i}" for i in range(100) if not qoe.tracks(f"s{i}")][:3]  # none when every one is followed
    with serving(app) as server, httpx.Client(base_url=server.url) as client:
        for _ in range(3):
            client.get(f"/{SEGMENT}").raise_for_status()
        before = app.state.hits.direct
        for each in [*left_out, sid]:
            reply = client.get(f"/{SEGMENT}?{cmcd_query(sid=f'{chr(34)}{each}{chr(34)}', ot='v', br='730')}")
            assert reply.content == SEGMENT_BYTES
        assert app.state.hits.direct == before + len(left_out) + 1
    assert list(qoe.sessions.keys()) == [sid]
