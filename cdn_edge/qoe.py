"""Viewer QoE from CMCD (cdn_edge.cmcd) and the player's beacon: startup time, rebuffering, bitrate
by rung, sessions and start failures, as Prometheus metrics with bounded labels.

Sessions (by CMCD `sid`) live in a TTLCache bounded in entries and idle time; no metric is labelled
by session, asset or path. What is measured, and how:

- startup: from a session's first request to its first media object (CMCD `ot` a, v or av, else a
  segment path), as the edge sees it (`source="edge"`); the player's own time to `playing`, from the
  beacon (`source="player"`).
- rebuffer events: media requests flagged `bs` (the buffer ran dry since the previous request) that
  could be a stall the viewer saw. Buffers are per stream (audio, video: a player fills them apart), and
  a `bs` counts when its stream is past startup (a media object of it requested without `su`) and the
  time since that stream's previous request is longer than the buffer (`bl`) that request reported
  (playing at 1x, the buffer cannot have run dry sooner; without a `bl` the flag is trusted). dash.js
  5.2 flags `bs` (with `su`) after every seek and on a stream's own "buffer empty" state, which it also
  enters at startup and after an ABR switch with seconds still buffered and no `waiting` on the video
  (tests/browser/test_qoe_playback.py): none of those is a rebuffer. hls.js flags `bs` on `waiting`,
  which also fires on a seek: the player asks at once, well within what it had buffered, and is not
  counted either.
- estimated rebuffer time: for a counted `bs` request, how much longer the gap since its stream's
  previous request was than the buffer (`bl`) reported then (that buffer ran out first); hls.js may
  flag `bs` on an init segment (a switch to a lower rung after a stall): it counts for the video.
  Watch time: the gaps between a session's requests, each capped at MAX_GAP (pauses are not
  watching). Ratio = rebuffer / (watch + rebuffer), computed in PromQL over any window.
- bitrate by rung: media requests by CMCD `br`, labelled by the ladder rung it falls in (RUNGS).
- start failures: a session that ends (idle past the TTL) or reports a fatal error (beacon) without
  a media object answered first.

Sampling (`sample_one_in` N > 1, for busy edges): the tracker follows one session in N, chosen by a
keyed hash of its `sid` (Python's hash() of the text, randomised per process: a client cannot pick
its way in or out; cdn_edge.qoe_compiled hashes the same str, so both follow the same sessions), and
each followed session stands for N. Counters add N per event (Horvitz-Thompson: every session is
followed with probability 1/N, so the expected total is the true total); histograms (startup,
throughput) and the active-sessions gauge (times N) are those of the sample, which is a uniform
random sample of sessions, so their distributions and every ratio (rebuffer ratio, rung shares)
estimate the whole. Every metric keeps its meaning for a followed session: all its requests and
beacons are seen. What N costs: with S sessions in a window, a count's relative standard error is
about sqrt((N - 1) / S) (binomial): N=16 and 10,000 sessions, 4%; the few sessions of a quiet edge
are better counted with N=1. A request of a session not followed costs finding its `sid` and one
hash (see observe_list(); bench/edge_protocol_cpu.py --cmcd).

Two implementations, one behaviour: QoeTracker here (the reference, pure Python) and
cdn_edge.qoe_compiled.QoeTracker (Cython, an optional extension built by `pip install`: the hit
path's CMCD work in C). create_tracker() takes the compiled one when it was built;
tests/cdn_edge/test_qoe_differential.py feeds both the same requests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import unquote

from cachetools import TTLCache
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from cdn_edge.cmcd import MEDIA_TYPES, QUERY_KEY, Cmcd, parse_cmcd, split_headers, split_query
from cdn_edge.counted_histogram import CountedHistogram

# Longest gap between two requests of a session that still counts as watching (a player fetches a
# segment every few seconds while it plays; longer gaps are pauses).
MAX_GAP = 30.0
# Upper bounds (kbps) of the rung labels: the default ladder's video rates fall one per rung.
RUNGS = ((400, "le400k"), (800, "le800k"), (1500, "le1500k"), (3000, "le3000k"), (6000, "le6000k"))
TOP_RUNG = "gt6000k"
RUNG_LABELS = (*(label for _, label in RUNGS), TOP_RUNG)
STARTUP_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 40.0)
SOURCES = ("edge", "player")
SEGMENT_SUFFIXES = (".m4s", ".mp4", ".ts", ".m4a", ".m4v", ".aac")
# Upper bounds (kbps) of vodstack_qoe_measured_throughput_kbps's buckets (the viewer dashboard's quantiles).
THROUGHPUT_BUCKETS = (500, 1000, 2000, 4000, 8000, 16000, 32000, 64000)
# Where a percent-encoded CMCD query (as encodeURIComponent writes it) names its session, after
# another key: `,sid="`. Other spellings (first key, lower-case hex) take the full parse.
_SID_AT = b"%2Csid%3D%22"
_QUOTE = b"%22"
_SID_KEY = b"sid%3"  # `sid=` in either hex case
_VALUE_ENDS = (b"", b"%2C", b"%2c")  # what may follow a value: the list's end or a separator
_AMPERSAND, _PERCENT, _BACKSLASH, _QUESTION_MARK, _SLASH = b"&%\\?/"
CMCD_TARGET = b"?" + QUERY_KEY
IMPLEMENTATION = "python"
logger = logging.getLogger("cdn_edge.qoe")


def rung_label(kbps: int) -> str:
    for bound, label in RUNGS:
        if kbps <= bound:
            return label
    return TOP_RUNG


@dataclass
class Stream:
    """One buffer of a session's player: its audio, or its video (or muxed) media."""

    last: float  # time of its latest media request
    buffer_ms: int | None = None  # `bl` of that request
    playing: bool = False  # a media object of it was requested without `su`: past startup


@dataclass
class Session:
    first: float  # time of its first request
    last: float  # time of its latest request
    refreshed: float = 0.0  # when its TTL was last restarted
    started: bool = False  # a media object was requested (edge) or the player said it plays
    failed: bool = False  # a start failure was counted
    audio: Stream | None = None
    video: Stream | None = None  # video, muxed, or a segment path without `ot`


class QoeMetrics:
    def __init__(self, node: str, registry: CollectorRegistry) -> None:
        self.node = node
        r = registry
        self.startup = Histogram(
            "vodstack_qoe_startup_seconds",
            "Video startup time: edge = session's first request to first media object; player = beacon.",
            ["node", "source"], buckets=STARTUP_BUCKETS, registry=r,
        )  # fmt: skip
        self.rebuffers = Counter(
            "vodstack_qoe_rebuffer_events", "Requests flagged CMCD bs (buffer starvation).", ["node"], registry=r
        )
        self.rebuffer_seconds = Counter(
            "vodstack_qoe_rebuffer_seconds", "Estimated seconds stalled (see cdn_edge/qoe.py).", ["node"], registry=r
        )
        self.watch_seconds = Counter(
            "vodstack_qoe_watch_seconds", "Seconds between a session's requests, each gap capped.", ["node"], registry=r
        )
        self.media_requests = Counter(
            "vodstack_qoe_media_requests",
            "Media object requests by the encoded bitrate's rung (CMCD br).",
            ["node", "rung"], registry=r,
        )  # fmt: skip
        # Fed bucket counts at flush(), not one observe() a request (see cdn_edge/counted_histogram.py).
        self.throughput = CountedHistogram(
            "vodstack_qoe_measured_throughput_kbps",
            "Throughput players measured (CMCD mtp).",
            {"node": node}, THROUGHPUT_BUCKETS, registry=r,
        )  # fmt: skip
        self.sessions = Counter("vodstack_qoe_sessions", "Playback sessions seen (CMCD sid).", ["node"], registry=r)
        self.active = Gauge("vodstack_qoe_active_sessions", "Sessions tracked now.", ["node"], registry=r)
        self.start_failures = Counter(
            "vodstack_qoe_start_failures", "Sessions that ended or failed before any media.", ["node"], registry=r
        )
        self.playback_errors = Counter(
            "vodstack_qoe_playback_errors", "Fatal errors players reported after starting.", ["node"], registry=r
        )
        self.dropped = Counter(
            "vodstack_qoe_sessions_dropped", "Sessions forgotten early: the table was full.", ["node"], registry=r
        )
        self.beacons = Counter("vodstack_qoe_beacons", "Beacons received, by outcome.", ["node", "outcome"], registry=r)
        self.implementation = Info(
            "vodstack_qoe_implementation", "Which CMCD tracker runs: compiled or python.", ["node"], registry=r
        )
        for source in SOURCES:
            self.startup.labels(node, source)
        for _, rung in RUNGS:
            self.media_requests.labels(node, rung)
        self.media_requests.labels(node, TOP_RUNG)
        for outcome in ("accepted", "invalid", "limited"):
            self.beacons.labels(node, outcome)
        for metric in (self.rebuffers, self.rebuffer_seconds, self.watch_seconds, self.sessions, self.start_failures,
                       self.playback_errors, self.dropped):  # fmt: skip
            metric.labels(node)

    def children(self) -> QoeChildren:
        """This node's children of every metric a tracker updates, resolved once: .labels() costs a dict
        lookup and a lock per call. Both trackers (this module's and cdn_edge.qoe_compiled) use them."""
        node = self.node
        return QoeChildren(
            rebuffers=self.rebuffers.labels(node),
            rebuffer_seconds=self.rebuffer_seconds.labels(node),
            watch=self.watch_seconds.labels(node),
            startup_edge=self.startup.labels(node, "edge"),
            startup_player=self.startup.labels(node, "player"),
            throughput=self.throughput,
            rungs=tuple(self.media_requests.labels(node, label) for label in RUNG_LABELS),
            sessions=self.sessions.labels(node),
            failures=self.start_failures.labels(node),
            errors=self.playback_errors.labels(node),
            dropped=self.dropped.labels(node),
        )


@dataclass(frozen=True, slots=True)
class QoeChildren:
    rebuffers: Counter
    rebuffer_seconds: Counter
    watch: Counter
    startup_edge: Histogram
    startup_player: Histogram
    throughput: CountedHistogram
    rungs: tuple[Counter, ...]  # in RUNG_LABELS order
    sessions: Counter
    failures: Counter
    errors: Counter
    dropped: Counter


class QoeTracker:
    """Sessions and their metrics. Used from the event loop only (no lock).

    The hit path is a few microseconds (bench/edge_protocol_cpu.py --cmcd), so what every media
    request adds (watch time, bitrate rung, throughput counted into its histogram bucket) goes into
    plain accumulators that flush() hands to the metrics when /metrics is read, in O(rungs + buckets)
    whatever the number of requests; only rare events (a new session, a startup, a rebuffer) touch a
    metric at once. A session's TTL is restarted at most every ttl/8, not on every request: it ends
    between 7/8 ttl and ttl after its last request."""

    def __init__(
        self,
        metrics: QoeMetrics,
        clock: Callable[[], float],
        *,
        ttl: float = 120.0,
        max_sessions: int = 100_000,
        sample_one_in: int = 1,
    ) -> None:
        if sample_one_in < 1:
            raise ValueError(f"sample_one_in must be at least 1, not {sample_one_in}")
        self.metrics = metrics
        self.clock = clock
        self.one_in = sample_one_in  # follow one session in this many; each counts for as many
        self.sessions: TTLCache[str, Session] = TTLCache(maxsize=max_sessions, ttl=ttl, timer=clock)
        self.refresh_after = ttl / 8
        self.pending_watch = 0.0
        self.pending_rungs = dict.fromkeys(RUNG_LABELS, 0)
        # Throughput samples since the last flush, by bucket of the histogram (bounds: THROUGHPUT_BUCKETS,
        # then +Inf), and their sum. Counts, not samples: nothing is dropped however many arrive.
        self.pending_throughput = [0] * (len(THROUGHPUT_BUCKETS) + 1)
        self.pending_throughput_sum = 0
        self.children = metrics.children()

    def take_target(self, target: bytes) -> bytes:
        """The raw request target (origin-form, as read) without a query of nothing but CMCD (what
        players send: `?CMCD=` after the path, no other `?` before it, no `&` after), which is observed
        here; any other target as it is (take() then sees its query). cdn_edge.protocol calls this
        before parsing the URL, which then parses the plain hit's bytes (parse_url scans every byte:
        about 27 instructions a byte, 8,000 for hls.js's query; callgrind). The path a session's
        request went to (a segment, when CMCD has no `ot`) is the target's up to `#`, percent-decoded."""
        head, cut, listed = target.partition(CMCD_TARGET)
        if not cut or not head.startswith(b"/") or _QUESTION_MARK in head or _AMPERSAND in listed:
            return target
        path = head.partition(b"#")[0].decode("latin-1")
        self.observe_list(unquote(path) if "%" in path else path, listed)
        return head

    def take(
        self, path: str, query: bytes, headers: list[tuple[bytes, bytes]], has_header: bool
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """Observe the CMCD of one request; return its query and headers without it (CMCD is never
        part of the cache key, nor sent upstream). `has_header`: a CMCD-* header is among `headers`.

        A query of nothing but CMCD (what players send) takes observe_list's short way."""
        # `int in bytes` tests one byte; `bytes in bytes` first tries the needle as an int and pays
        # for the exception (about 5x the instructions, callgrind).
        if not has_header and query.startswith(QUERY_KEY) and _AMPERSAND not in query:
            self.observe_list(path, query[len(QUERY_KEY) :])
            return b"", headers
        raw, query = split_query(query)
        if has_header:
            values, headers = split_headers(headers)
            cmcd = parse_cmcd(b",".join(values), encoded=False)
        elif raw is not None:
            cmcd = parse_cmcd(raw, encoded=True)
        else:
            return query, headers
        self.observe(cmcd, path)
        return query, headers

    def observe_list(self, path: str, listed: bytes) -> None:
        """Observe one percent-encoded CMCD list, the value of a query that holds nothing else (what
        players send; cdn_edge.protocol cuts it off the request target before parsing the URL).

        The cost of such a request is mostly scans and copies of its ~300-byte list, so when sampling,
        a session not followed is found with one scan from the end (where hls.js puts `sid`, its keys
        sorted), one hash, and no parse: when that `sid` is the list's only one (no `sid%3` before
        it) and its value is exactly a quoted string without escapes, it is the sid parse_cmcd gives;
        anything else takes the full parse (tests/cdn_edge/test_qoe_differential.py)."""
        one_in = self.one_in
        if one_in != 1:
            # partition takes its argument as is; find and rfind parse theirs as a tuple (callgrind:
            # about 700 instructions a call).
            before, named, sid = listed.rpartition(_SID_AT)
            if named and _SID_KEY not in before:
                sid, quoted, after = sid.partition(_QUOTE)
                if quoted and _PERCENT not in sid and _BACKSLASH not in sid and after[:3] in _VALUE_ENDS:
                    if hash(sid.decode("utf-8", "replace")) % one_in:
                        return
        self.observe(parse_cmcd(listed, encoded=True), path)

    def tracks(self, sid: str) -> bool:
        """Whether the session `sid` is one this tracker follows (always, when it samples none out)."""
        return self.one_in == 1 or hash(sid) % self.one_in == 0

    def observe(self, cmcd: Cmcd, path: str) -> None:
        sid = cmcd.sid
        if sid is None:
            return  # without a session nothing can be attributed; the request is served as any other
        if self.one_in != 1 and not self.tracks(sid):
            return
        now = self.clock()
        session = self._session(sid, now)
        gap = now - session.last
        if gap > 0:
            self.pending_watch += gap if gap < MAX_GAP else MAX_GAP
        session.last = now
        if now - session.refreshed > self.refresh_after:
            session.refreshed = now
            self._keep(sid, session)
        if cmcd.mtp is not None:
            self.pending_throughput[self.children.throughput.bucket(cmcd.mtp)] += 1
            self.pending_throughput_sum += cmcd.mtp
        ot = cmcd.ot
        if not (ot in MEDIA_TYPES if ot is not None else path.endswith(SEGMENT_SUFFIXES)):
            if cmcd.bs and ot == "i" and session.video is not None:
                self._starved(session.video, now)
            return
        if cmcd.br is not None:
            self.pending_rungs[rung_label(cmcd.br)] += 1
        self._buffer(session, cmcd, now)
        if not session.started:
            session.started = True
            self.children.startup_edge.observe(now - session.first)

    def _buffer(self, session: Session, cmcd: Cmcd, now: float) -> None:
        """A media request of one of the session's streams: a rebuffer if it is flagged `bs` and the
        stream's buffer may have run dry since its previous request (see the module docstring)."""
        audio = cmcd.ot == "a"
        stream = session.audio if audio else session.video
        if stream is None:
            stream = Stream(now)
            if audio:
                session.audio = stream
            else:
                session.video = stream
        elif cmcd.bs:
            self._starved(stream, now)
        stream.last = now
        stream.buffer_ms = cmcd.bl
        if not cmcd.su:
            stream.playing = True

    def _starved(self, stream: Stream, now: float) -> None:
        """A request flagged `bs` for `stream`: counted when the stream is past startup and its buffer may
        have run dry since its previous media request."""
        if not stream.playing:
            return
        stalled = None if stream.buffer_ms is None else now - stream.last - stream.buffer_ms / 1000
        if stalled is None or stalled > 0:
            self.children.rebuffers.inc(self.one_in)
            if stalled is not None:
                self.children.rebuffer_seconds.inc(min(stalled, MAX_GAP) * self.one_in)

    def beacon(self, sid: str, event: str, startup_seconds: float | None) -> None:
        """A player's report: "start" (playing, `startup_seconds` after it began loading) or "error"
        (fatal: before any media, a start failure)."""
        if not self.tracks(sid):
            return  # a session the sample leaves out, on its requests too
        now = self.clock()
        session = self._session(sid, now)
        self._keep(sid, session)
        if event == "start":
            if startup_seconds is not None:
                self.children.startup_player.observe(startup_seconds)
            session.started = True
        elif session.started:
            self.children.errors.inc(self.one_in)
        elif not session.failed:
            session.failed = True
            self.children.failures.inc(self.one_in)

    def flush(self) -> None:
        """Bring the metrics up to date (call before reading them): the accumulated watch time, rungs
        and throughput, and sessions idle past the TTL (those that never started: start failures)."""
        for _, session in self.sessions.expire():
            self._ended(session)
        self.metrics.active.labels(self.metrics.node).set(len(self.sessions) * self.one_in)
        if self.pending_watch:
            self.children.watch.inc(self.pending_watch * self.one_in)
            self.pending_watch = 0.0
        for (label, count), rung in zip(self.pending_rungs.items(), self.children.rungs, strict=True):
            if count:
                rung.inc(count * self.one_in)
                self.pending_rungs[label] = 0
        if any(self.pending_throughput):
            self.children.throughput.add(self.pending_throughput, self.pending_throughput_sum)
            self.pending_throughput = [0] * len(self.pending_throughput)
            self.pending_throughput_sum = 0

    def _ended(self, session: Session) -> None:
        if not session.started and not session.failed:
            session.failed = True
            self.children.failures.inc(self.one_in)

    def _keep(self, sid: str, session: Session) -> None:
        """Store (again): a TTLCache counts the TTL from the last write, so an active session stays."""
        for _, ended in self.sessions.expire():  # before the write, which would drop them unseen
            self._ended(ended)
        self.sessions[sid] = session

    def _session(self, sid: str, now: float) -> Session:
        try:
            return self.sessions[sid]
        except KeyError:
            pass
        for _, ended in self.sessions.expire():
            self._ended(ended)
        if len(self.sessions) >= self.sessions.maxsize:
            self.sessions.popitem()  # the least recently used: overload, not a verdict on it
            self.children.dropped.inc()
        session = Session(now, now, now)
        self.sessions[sid] = session
        self.children.sessions.inc(self.one_in)
        return session


class Tracker(Protocol):
    """What the edge calls (cdn_edge.protocol, cdn_edge.fastpath, cdn_edge.app): QoeTracker here, or
    cdn_edge.qoe_compiled.QoeTracker; both also have observe(), observe_list() and `sessions`."""

    metrics: QoeMetrics

    def take_target(self, target: bytes) -> bytes: ...

    def take(
        self, path: str, query: bytes, headers: list[tuple[bytes, bytes]], has_header: bool
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]: ...

    def tracks(self, sid: str) -> bool: ...

    def beacon(self, sid: str, event: str, startup_seconds: float | None) -> None: ...

    def flush(self) -> None: ...


Implementation = Literal["auto", "compiled", "python"]


def create_tracker(
    metrics: QoeMetrics,
    clock: Callable[[], float],
    *,
    implementation: Implementation = "auto",
    ttl: float = 120.0,
    max_sessions: int = 100_000,
    sample_one_in: int = 1,
) -> Tracker:
    """The compiled tracker when the extension was built ("auto"; "compiled" requires it), else this
    module's. Which one is in use is logged and exported (vodstack_qoe_implementation_info)."""
    tracker: Tracker
    if implementation != "python":
        try:
            from cdn_edge.qoe_compiled import QoeTracker as CompiledTracker
        except ImportError:
            if implementation == "compiled":
                raise
            logger.warning("cdn_edge.qoe_compiled is not built: viewer QoE runs in Python (about 2x a hit's CPU)")
        else:
            tracker = CompiledTracker(metrics, clock, ttl=ttl, max_sessions=max_sessions, sample_one_in=sample_one_in)
            metrics.implementation.labels(metrics.node).info({"implementation": "compiled"})
            logger.info("viewer QoE: compiled CMCD tracker (cdn_edge.qoe_compiled)")
            return tracker
    tracker = QoeTracker(metrics, clock, ttl=ttl, max_sessions=max_sessions, sample_one_in=sample_one_in)
    metrics.implementation.labels(metrics.node).info({"implementation": IMPLEMENTATION})
    logger.info("viewer QoE: Python CMCD tracker (cdn_edge.qoe)")
    return tracker
