"""Types of the compiled tracker (cdn_edge/qoe_compiled.pyx): the same surface as cdn_edge.qoe.QoeTracker."""

from collections.abc import Callable, Mapping

from cdn_edge.cmcd import Cmcd
from cdn_edge.qoe import QoeMetrics

IMPLEMENTATION: str

def parse_cmcd(raw: bytes, *, encoded: bool) -> Cmcd: ...

class Session:
    first: float
    last: float
    refreshed: float
    started: bool
    failed: bool

class QoeTracker:
    metrics: QoeMetrics
    clock: Callable[[], float]
    one_in: int
    pending_watch: float
    def __init__(
        self,
        metrics: QoeMetrics,
        clock: Callable[[], float],
        *,
        ttl: float = 120.0,
        max_sessions: int = 100_000,
        sample_one_in: int = 1,
    ) -> None: ...
    @property
    def sessions(self) -> Mapping[str, Session]: ...
    @property
    def pending_rungs(self) -> dict[str, int]: ...
    def take_target(self, target: bytes) -> bytes: ...
    def observe_list(self, path: str, listed: bytes) -> None: ...
    def take(
        self, path: str, query: bytes, headers: list[tuple[bytes, bytes]], has_header: bool
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]: ...
    def observe(self, cmcd: Cmcd, path: str) -> None: ...
    def tracks(self, sid: str) -> bool: ...
    def beacon(self, sid: str, event: str, startup_seconds: float | None) -> None: ...
    def flush(self) -> None: ...
