"""What `vodstack upload` prints while it follows a transcode: human ETA, status text without
stray separators, an ETA that moves with progress (injected clock, no sleeps)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from vodstack.progress_text import EtaEstimator, human_eta, transcode_status
from vodstack.upload import follow


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, ""),
        (float("nan"), ""),
        (-3, ""),
        (0.2, "almost done"),
        (3, "3 s left"),
        (59.4, "59 s left"),
        (61, "1 min left"),
        (125, "2 min left"),
        (3199, "53 min left"),
        (3600, "1 h left"),
        (3900, "1 h 5 min left"),
    ],
)
def test_human_eta(seconds: float | None, text: str) -> None:
    assert human_eta(seconds) == text


@pytest.mark.parametrize(
    ("state", "speed", "eta", "text"),
    [
        ("queued", None, None, "queued"),
        ("processing", 2.1, None, "processing · 2.10x"),
        ("processing", None, 120, "processing · 2 min left"),
        ("processing", 1.5, 30, "processing · 1.50x · 30 s left"),
    ],
)
def test_transcode_status_joins_only_what_is_known(
    state: str, speed: float | None, eta: float | None, text: str
) -> None:
    assert transcode_status(state, speed, eta) == text


def test_the_eta_follows_the_observed_rate() -> None:
    eta = EtaEstimator()
    assert eta.observe(0.0, 0.0) is None  # one sample: no rate yet
    assert eta.observe(10.0, 0.1) == pytest.approx(90.0)  # 1% a second, 90% left
    assert eta.observe(20.0, 0.1) == pytest.approx(180.0)  # stalled for 10 s: slower overall
    assert eta.observe(30.0, 0.4) == pytest.approx(45.0)
    assert eta.observe(70.0, 0.6) == pytest.approx(80.0)  # only the last 30 s count: 20% in 40 s
    assert eta.observe(31.0, 0.05) is None  # a retry restarted the job: start over
    assert eta.observe(32.0, 1.0) == 0.0


def test_follow_prints_clean_progress_with_a_moving_eta(capsys: pytest.CaptureFixture[str]) -> None:
    states: list[dict[str, Any]] = [
        {"state": "queued", "progress": 0, "playback": {}},
        {"state": "processing", "progress": 0.1, "speed": 2.0, "playback": {}},
        {"state": "processing", "progress": 0.2, "speed": 2.0, "playback": {}},
        {"state": "processing", "progress": 0.4, "speed": 2.0, "playback": {}},
        {"state": "ready", "progress": 1.0, "playback": {"hls": "http://edge/a/master.m3u8"}},
    ]
    answers = iter(states)
    ticks = iter(range(0, 1000, 60))  # a poll a minute
    http = httpx.Client(transport=httpx.MockTransport(lambda _request: httpx.Response(200, json=next(answers))))
    assert follow(http, "http://ingest/assets/a", clock=lambda: float(next(ticks)), poll=0) == 0
    out = capsys.readouterr()
    assert "ready: http://edge/a/master.m3u8" in out.out
    frames = [frame.strip() for frame in out.err.replace("\r", "\n").splitlines() if frame.strip()]
    assert not any(", " in frame or " ," in frame for frame in frames), frames
    etas = [frame.rsplit("· ", 1)[1] for frame in frames if "left" in frame]
    assert etas == ["8 min left", "3 min left"], frames  # 10% a minute, then 20% a minute
