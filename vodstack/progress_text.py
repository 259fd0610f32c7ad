"""What `vodstack upload` prints while a transcode runs: a human ETA ("2 min left") and one clean
status text per poll. Pure: the caller passes the clock readings, so tests need no sleeps."""

from __future__ import annotations

from dataclasses import dataclass, field

# Progress samples older than this are forgotten: the rate of the current rung, not of the whole job.
WINDOW_SECONDS = 30.0


def human_eta(seconds: float | None) -> str:
    """ "45 s left", "2 min left", "1 h 5 min left"; "" when unknown (never a made-up number)."""
    if seconds is None or seconds != seconds or seconds < 0:  # None, NaN, negative: unknown
        return ""
    if seconds < 1:
        return "almost done"
    if seconds < 60:
        return f"{seconds:.0f} s left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min left"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min left" if minutes else f"{hours} h left"


@dataclass
class EtaEstimator:
    """Time left from how fast the job's progress (0..1) moved over the last WINDOW_SECONDS.

    The server's own estimate is per encode step and can sit still between its updates; the rate
    seen here is the whole job's, so the ETA moves with every poll that shows progress."""

    samples: list[tuple[float, float]] = field(default_factory=list)

    def observe(self, now: float, progress: float) -> float | None:
        """Record progress at monotonic time `now`; return the seconds left, None while unknown."""
        if self.samples and progress < self.samples[-1][1]:
            self.samples.clear()  # a retried attempt starts over
        self.samples.append((now, progress))
        while len(self.samples) > 2 and now - self.samples[0][0] > WINDOW_SECONDS:
            self.samples.pop(0)
        (t0, p0), (t1, p1) = self.samples[0], self.samples[-1]
        if p1 >= 1.0:
            return 0.0
        if t1 <= t0 or p1 <= p0:
            return None
        return (1.0 - p1) * (t1 - t0) / (p1 - p0)


def transcode_status(state: str, speed: float | None, eta_seconds: float | None) -> str:
    """ "processing · 2.10x · 2 min left": parts joined only when present (no stray separators)."""
    parts = [state]
    if speed:
        parts.append(f"{speed:.2f}x")
    eta = human_eta(eta_seconds)
    if eta:
        parts.append(eta)
    return " · ".join(parts)
