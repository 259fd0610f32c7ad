from __future__ import annotations

from transcoder.progress import ProgressParser

BLOCK = """frame=62
fps=0.00
out_time_us=2000000
out_time_ms=2000000
speed= 4.0x
progress=continue
"""


def test_block_gives_fraction_speed_and_eta() -> None:
    parser = ProgressParser(duration=10.0)
    results = [p for p in (parser.feed(line) for line in BLOCK.splitlines()) if p]
    assert len(results) == 1
    p = results[0]
    assert p.media_seconds == 2.0
    assert abs(p.fraction - 0.2) < 1e-9
    assert p.speed == 4.0
    assert p.eta_seconds == 2.0
    assert not p.done


def test_end_block_is_complete() -> None:
    parser = ProgressParser(duration=3.0)
    progress = None
    for line in ["out_time_us=3000000", "speed=N/A", "progress=end"]:
        progress = parser.feed(line) or progress
    assert progress is not None and progress.done and progress.fraction == 1.0 and progress.speed is None


def test_garbage_is_ignored() -> None:
    parser = ProgressParser(duration=3.0)
    assert parser.feed("not a key value line") is None
    progress = None
    for line in ["out_time_us=N/A", "speed=abc", "progress=continue"]:
        progress = parser.feed(line) or progress
    assert progress is not None and progress.media_seconds == 0.0 and progress.eta_seconds is None
