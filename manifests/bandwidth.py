"""Peak and average bit rates measured from segment sizes (RFC 8216 section 4.3.4.2).

BANDWIDTH is "the largest bit rate of any contiguous set of segments whose total duration
is between 0.5 and 1.5 times the target duration"; AVERAGE-BANDWIDTH is total bits over
total duration. Both are rounded up so a declaration is never below the measurement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from manifests.model import Segment


def target_duration(segments: Sequence[Segment]) -> int:
    """EXT-X-TARGETDURATION: the largest EXTINF rounded to the nearest integer (halves up).

    Python's round() rounds halves to even (round(2.5) == 2), which would declare a target
    below a 2.5 s segment; RFC 8216 means ordinary rounding.
    """
    return max((round_half_up(s.duration) for s in segments), default=1) or 1


def round_half_up(seconds: float) -> int:
    return math.floor(seconds + 0.5)


def measure(segments: Sequence[Segment], target_duration: int) -> tuple[int, int]:
    """(peak, average) in bits per second."""
    if not segments:
        return 0, 0
    total_bytes = sum(s.size for s in segments)
    total_duration = sum(s.duration for s in segments)
    average = _rate(total_bytes, total_duration)
    low, high = 0.5 * target_duration, 1.5 * target_duration
    peak = 0
    found = False
    for first in range(len(segments)):
        size = 0
        duration = 0.0
        for seg in segments[first:]:
            size += seg.size
            duration += seg.duration
            if duration > high:
                break
            if duration >= low:
                found = True
                peak = max(peak, _rate(size, duration))
    if not found:
        # No run fits the window: a presentation shorter than half the target, or segments
        # longer than 1.5x it. The single-segment maximum is then the honest peak.
        peak = max(_rate(s.size, s.duration) for s in segments)
    return max(peak, average), average


def _rate(size: int, duration: float) -> int:
    if duration <= 0:
        return 0
    return math.ceil(size * 8 / duration)
