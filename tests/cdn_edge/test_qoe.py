"""Viewer QoE from CMCD and beacons (cdn_edge.qoe): what each metric counts, with an injected clock;
every test runs against both trackers (the reference and cdn_edge.qoe_compiled)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from prometheus_client import CollectorRegistry

from cdn_edge.cmcd import Cmcd
from cdn_edge.qoe import QoeMetrics, QoeTracker, rung_label
from tests.cdn_edge.edge_stack import ManualClock
from tests.cdn_edge.qoe_implementations import TRACKERS

NODE = "edge-1"


@pytest.fixture(autouse=True, params=TRACKERS)
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Qoe, "tracker_class", request.param)


class Qoe:
    tracker_class: type[QoeTracker] = QoeTracker

    def __init__(self, **options: float) -> None:
        self.clock = ManualClock()
        self.registry = CollectorRegistry()
        self.tracker = self.tracker_class(QoeMetrics(NODE, self.registry), self.clock, **options)  # type: ignore[arg-type]

    def value(self, name: str, **labels: str) -> float:
        self.tracker.flush()
        found = self.registry.get_sample_value(name, {"node": NODE, **labels})
        assert found is not None, name
        return found

    def request(self, after: float, path: str, **cmcd: object) -> None:
        self.clock.advance(after)
        self.tracker.observe(Cmcd(**cmcd), path)  # type: ignore[arg-type]


def test_startup_is_first_request_to_first_media_object() -> None:
    q = Qoe()
    q.request(0, "a/master.m3u8", sid="s", ot="m", su=True)
    q.request(0.4, "a/360p/index.m3u8", sid="s", ot="m", su=True)
    q.request(0.3, "a/360p/init.mp4", sid="s", ot="i", su=True)
    q.request(0.5, "a/360p/seg_00001.m4s", sid="s", ot="v", br=730, su=True)
    q.request(4.0, "a/360p/seg_00002.m4s", sid="s", ot="v", br=730, bl=8000)
    assert q.value("vodstack_qoe_startup_seconds_count", source="edge") == 1
    assert q.value("vodstack_qoe_startup_seconds_sum", source="edge") == pytest.approx(1.2)
    assert q.value("vodstack_qoe_sessions_total") == 1
    assert q.value("vodstack_qoe_media_requests_total", rung="le800k") == 2
    assert q.value("vodstack_qoe_rebuffer_events_total") == 0
    assert q.value("vodstack_qoe_watch_seconds_total") == pytest.approx(5.2)


def test_a_pause_counts_at_most_max_gap_of_watch_time() -> None:
    q = Qoe()
    q.request(0, "a/360p/seg_00001.m4s", sid="s", ot="v")
    q.request(45, "a/360p/seg_00002.m4s", sid="s", ot="v")  # paused: 30 s of it counts
    q.request(4, "a/360p/seg_00003.m4s", sid="s", ot="v")
    assert q.value("vodstack_qoe_watch_seconds_total") == pytest.approx(34.0)


def test_without_ot_a_segment_path_is_media() -> None:
    q = Qoe()
    q.request(0, "a/master.m3u8", sid="s")
    q.request(2, "a/360p/seg_00001.m4s", sid="s")
    assert q.value("vodstack_qoe_startup_seconds_sum", source="edge") == pytest.approx(2)


def test_without_a_session_id_nothing_is_attributed() -> None:
    q = Qoe()
    q.request(0, "a/360p/seg_00001.m4s", ot="v", br=730, bs=True)
    assert q.value("vodstack_qoe_sessions_total") == 0 and q.value("vodstack_qoe_rebuffer_events_total") == 0


def test_a_starved_request_counts_a_rebuffer_and_the_stall_beyond_the_buffer() -> None:
    q = Qoe()
    q.request(0, "a/360p/seg_00001.m4s", sid="s", ot="v", br=730, bl=3000)
    q.request(5, "a/360p/seg_00002.m4s", sid="s", ot="v", br=730, bl=0, bs=True)  # 3 s buffer, 5 s gap: 2 s
    q.request(2, "a/360p/seg_00003.m4s", sid="s", ot="v", br=730, bl=4000)
    assert q.value("vodstack_qoe_rebuffer_events_total") == 1
    assert q.value("vodstack_qoe_rebuffer_seconds_total") == pytest.approx(2.0)
    assert q.value("vodstack_qoe_watch_seconds_total") == pytest.approx(7.0)


def test_a_starved_buffer_during_startup_is_not_a_rebuffer() -> None:
    q = Qoe()
    q.request(0, "a/360p/init.mp4", sid="s", ot="i", su=True)
    q.request(0.5, "a/360p/seg_00001.m4s", sid="s", ot="v", su=True, bs=True)  # dash.js does this
    q.request(0.5, "a/360p/seg_00002.m4s", sid="s", ot="v", bl=4000)  # playing
    q.request(6, "a/360p/seg_00003.m4s", sid="s", ot="v", su=True, bs=True, bl=0)  # a stall, recovering
    assert q.value("vodstack_qoe_rebuffer_events_total") == 1
    assert q.value("vodstack_qoe_rebuffer_seconds_total") == pytest.approx(2.0)


def test_dash_js_starved_flags_while_its_buffer_held_are_not_rebuffers() -> None:
    # What dash.js 5.2 sent in a healthy playback (tests/browser/test_qoe_playback.py, no `waiting`): `bs`
    # on the audio before the audio was past startup, and on the video 0.28 s after it reported 2 s buffered.
    q = Qoe()
    q.request(0, "a/360p/seg_00001.m4s", sid="s", ot="v", su=True, br=755)
    q.request(0.3, "a/audio/seg_00001.m4s", sid="s", ot="a", su=True, br=131)
    q.request(0.48, "a/audio/seg_00002.m4s", sid="s", ot="a", su=True, bs=True, bl=1900, br=131)
    q.request(0, "a/540p/seg_00001.m4s", sid="s", ot="v", bl=2000, br=1497)
    q.request(0.28, "a/540p/seg_00002.m4s", sid="s", ot="v", su=True, bs=True, bl=1600, br=1497)
    q.request(0.48, "a/audio/seg_00003.m4s", sid="s", ot="a", su=True, bs=True, bl=3200, br=131)
    q.request(0.02, "a/audio/seg_00004.m4s", sid="s", ot="a", bl=5100, br=131)
    # A seek: both players flag the first request after it, sent at once, within what was buffered.
    q.request(1, "a/540p/seg_00005.m4s", sid="s", ot="v", su=True, bs=True, bl=0, br=1497)
    q.request(0, "a/audio/seg_00005.m4s", sid="s", ot="a", su=True, bs=True, bl=0, br=131)
    assert q.value("vodstack_qoe_rebuffer_events_total") == 0
    assert q.value("vodstack_qoe_rebuffer_seconds_total") == 0


def test_each_stream_is_judged_by_its_own_buffer() -> None:
    # Video requests in between do not hide that the audio went 5 s on 3 s of buffer.
    q = Qoe()
    q.request(0, "a/audio/seg_00001.m4s", sid="s", ot="a", bl=3000)
    for _ in range(5):
        q.request(1, "a/360p/seg_00001.m4s", sid="s", ot="v", bl=8000)
    q.request(0, "a/audio/seg_00002.m4s", sid="s", ot="a", su=True, bs=True, bl=0)
    assert q.value("vodstack_qoe_rebuffer_events_total") == 1
    assert q.value("vodstack_qoe_rebuffer_seconds_total") == pytest.approx(2.0)


def test_hls_js_flags_a_stall_on_the_init_segment_of_a_lower_rung() -> None:
    q = Qoe()
    q.request(0, "a/540p/seg_00001.m4s", sid="s", ot="v", bl=2000)
    q.request(4, "a/180p/init.mp4", sid="s", ot="i", su=True, bs=True)
    assert q.value("vodstack_qoe_rebuffer_events_total") == 1
    assert q.value("vodstack_qoe_rebuffer_seconds_total") == pytest.approx(2.0)


def test_without_a_buffer_length_the_starved_flag_is_trusted() -> None:
    q = Qoe()
    q.request(0, "a/360p/seg_00001.m4s", sid="s")
    q.request(0.1, "a/360p/seg_00002.m4s", sid="s", bs=True)
    assert q.value("vodstack_qoe_rebuffer_events_total") == 1
    assert q.value("vodstack_qoe_rebuffer_seconds_total") == 0


@pytest.mark.parametrize(
    ("kbps", "label"), [(0, "le400k"), (400, "le400k"), (401, "le800k"), (1500, "le1500k"), (6001, "gt6000k")]
)
def test_rung_labels_are_a_fixed_set(kbps: int, label: str) -> None:
    assert rung_label(kbps) == label


def test_a_session_that_ends_before_any_media_is_a_start_failure() -> None:
    q = Qoe(ttl=60)  # restarted at most every 7.5 s
    q.request(0, "a/master.m3u8", sid="never", ot="m")
    q.request(0, "a/master.m3u8", sid="plays", ot="m")
    q.request(8, "a/360p/seg_00001.m4s", sid="plays", ot="v")
    assert q.value("vodstack_qoe_start_failures_total") == 0 and q.value("vodstack_qoe_active_sessions") == 2
    q.clock.advance(52.5)  # "never" idle 60.5 s, "plays" 52.5 s
    assert q.value("vodstack_qoe_start_failures_total") == 1 and q.value("vodstack_qoe_active_sessions") == 1
    q.request(0.4, "a/360p/seg_00002.m4s", sid="plays", ot="v")  # its requests restart its idle time
    q.clock.advance(59)
    assert q.value("vodstack_qoe_active_sessions") == 1 and q.value("vodstack_qoe_sessions_total") == 2
    q.clock.advance(1.1)
    assert q.value("vodstack_qoe_start_failures_total") == 1 and q.value("vodstack_qoe_active_sessions") == 0


def test_a_session_ends_between_seven_eighths_of_the_ttl_and_the_ttl_after_its_last_request() -> None:
    q = Qoe(ttl=80)  # restarted at most every 10 s
    q.request(0, "a/360p/seg_00001.m4s", sid="s", ot="v")
    q.request(9, "a/360p/seg_00002.m4s", sid="s", ot="v")  # within 10 s of the last restart: not restarted
    q.clock.advance(70.5)  # 79.5 s after the restart, 70.5 s after the last request
    assert q.value("vodstack_qoe_active_sessions") == 1
    q.clock.advance(1)
    assert q.value("vodstack_qoe_active_sessions") == 0


def test_the_session_table_is_bounded() -> None:
    q = Qoe(max_sessions=3)
    for i in range(10):
        q.request(0.1, "a/master.m3u8", sid=f"s{i}", ot="m")
    assert len(q.tracker.sessions) == 3
    assert q.value("vodstack_qoe_sessions_dropped_total") == 7
    assert q.value("vodstack_qoe_start_failures_total") == 0  # forgotten for room is not a failure


def test_beacons_report_startup_and_fatal_errors() -> None:
    q = Qoe()
    q.tracker.beacon("a", "start", 1.5)
    q.tracker.beacon("a", "error", None)  # after starting: a playback error
    q.tracker.beacon("b", "error", None)  # before: a start failure, counted once
    q.tracker.beacon("b", "error", None)
    q.clock.advance(1000)
    q.tracker.flush()  # "b" ending later is not counted again
    assert q.value("vodstack_qoe_startup_seconds_sum", source="player") == 1.5
    assert q.value("vodstack_qoe_playback_errors_total") == 1
    assert q.value("vodstack_qoe_start_failures_total") == 1


def cmcd_query(sid: str, **keys: str) -> bytes:
    """A CMCD query as hls.js writes it: keys sorted, the list percent-encoded (encodeURIComponent)."""
    pairs = {**keys, "sid": '"' + sid.replace("\\", "\\\\").replace('"', '\\"') + '"'}
    listed = ",".join(f"{k}={v}" if v else k for k, v in sorted(pairs.items()))
    return b"CMCD=" + quote(listed, safe="").encode()


def test_a_sampling_tracker_follows_whole_sessions_and_counts_each_for_n() -> None:
    q = Qoe(sample_one_in=4, ttl=10_000)  # all 400 sessions (6 s each) live to the end
    sids = [f"{i:08x}-2a2b-4a6c-9b3e-5b1f0c8d7e61" for i in range(400)]
    followed = [sid for sid in sids if q.tracker.tracks(sid)]
    assert 40 < len(followed) < 160  # binomial(400, 1/4): 100 +- 8.7
    path = "a/360p/seg_00001.m4s"
    for sid in sids:  # each session: startup, two media requests (le800k), a stall, its beacon
        q.clock.advance(0.01)
        q.tracker.take("a/master.m3u8", cmcd_query(sid, ot="m", su=""), [], False)
        q.clock.advance(1)
        q.tracker.take(path, cmcd_query(sid, ot="v", br="730", bl="2000"), [], False)
        q.clock.advance(5)  # 2 s of buffer, 5 s gap: 3 s stalled
        q.tracker.take(path, cmcd_query(sid, ot="v", br="730", bl="0", bs=""), [], False)
        q.tracker.beacon(sid, "start", 0.5)
    n = len(followed)
    assert sorted(q.tracker.sessions.keys()) == sorted(followed)  # whole sessions, no others
    assert q.value("vodstack_qoe_sessions_total") == 4 * n
    assert q.value("vodstack_qoe_active_sessions") == 4 * n
    assert q.value("vodstack_qoe_media_requests_total", rung="le800k") == 8 * n
    assert q.value("vodstack_qoe_rebuffer_events_total") == 4 * n
    assert q.value("vodstack_qoe_rebuffer_seconds_total") == pytest.approx(4 * 3.0 * n)
    assert q.value("vodstack_qoe_watch_seconds_total") == pytest.approx(4 * 6.0 * n)
    # Histograms are the sample's: one startup (1 s) per followed session.
    assert q.value("vodstack_qoe_startup_seconds_count", source="edge") == n
    assert q.value("vodstack_qoe_startup_seconds_sum", source="edge") == pytest.approx(n)
    assert q.value("vodstack_qoe_startup_seconds_count", source="player") == n
    q.clock.advance(10_001)  # all end, none before media: no start failure
    assert q.value("vodstack_qoe_start_failures_total") == 0
    q.tracker.beacon(next(sid for sid in sids if sid not in followed), "error", None)
    q.tracker.beacon(next(sid for sid in sids if sid in followed), "error", None)  # a new session, failed
    assert q.value("vodstack_qoe_start_failures_total") == 4


@pytest.mark.parametrize(
    "sid",
    ["48c4ee54-2a2b-4a6c-9b3e-5b1f0c8d7e61", "with space", "100%", 'quo"te', "back\\slash", "ünï", "a,b", "x"],
)
@pytest.mark.parametrize("spelling", ["hls.js", "sid first", "lower-case hex"])
def test_the_hit_path_follows_exactly_the_sessions_tracks_names(sid: str, spelling: str) -> None:
    # The hit path decides on the bytes as sent; a session is followed there iff tracks() says so,
    # whatever the spelling, so its requests and its beacons agree.
    for one_in in (2, 3, 5, 7, 11):
        q = Qoe(sample_one_in=one_in)
        query = cmcd_query(sid, ot="v", br="730", nor='"seg_00002.m4s"')
        if spelling == "sid first":
            query = cmcd_query(sid)
        elif spelling == "lower-case hex":
            query = query.replace(b"%2C", b"%2c").replace(b"%3D", b"%3d")
        rest, headers = q.tracker.take("a/360p/seg_00001.m4s", query, [(b"host", b"edge")], False)
        assert (rest, headers) == (b"", [(b"host", b"edge")])
        if sid == "a,b":  # cut at the separator: no session (cmcd.py), followed or not
            assert not q.tracker.sessions
        else:
            assert (sid in q.tracker.sessions) == q.tracker.tracks(sid), (sid, one_in)


def test_other_query_parameters_stay_whether_or_not_the_session_is_followed() -> None:
    q = Qoe(sample_one_in=1_000_000)
    sid = next(f"s{i}" for i in range(1000) if not q.tracker.tracks(f"s{i}"))
    query = b"token=abc&" + cmcd_query(sid, ot="v") + b"&x=1"
    assert q.tracker.take("a/seg_00001.m4s", query, [], False)[0] == b"token=abc&x=1"
    assert not q.tracker.sessions


def test_sampling_needs_a_positive_n() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Qoe(sample_one_in=0)
