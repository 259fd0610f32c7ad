"""A real HTTP receiver on loopback that records what it is sent and answers with scripted statuses."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.loopback import LoopbackServer, QuietHandler


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Receiver:
    statuses: list[int] = field(default_factory=list)  # answered in order; 204 once exhausted
    received: list[Received] = field(default_factory=list)

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode()
                receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.loopback = LoopbackServer(Handler).__enter__()
        return self

    @property
    def url(self) -> str:
        return self.loopback.url("/hooks")

    def __exit__(self, *exc: object) -> None:
        self.loopback.__exit__(*exc)
