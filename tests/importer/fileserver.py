"""A loopback HTTP server of one file for import tests: byte ranges (RFC 9110) with an ETag, or none,
and connections it drops part-way through a body, as a flaky origin does."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.loopback import LoopbackServer, QuietHandler


@dataclass
class FileServer:
    body: bytes
    ranges: bool = True  # answer Range with 206 (and send Accept-Ranges and an ETag)
    cut_after: list[int] = field(default_factory=list)  # per request, in order: drop after N body bytes
    redirect_to: str | None = None  # answer /redirect with 302 to this
    requests: list[dict[str, str]] = field(default_factory=list)

    def __enter__(self) -> FileServer:
        server = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
                if self.path == "/redirect" and server.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", server.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, start = server.body, 0
                wanted = re.fullmatch(r"bytes=(\d+)-", self.headers.get("range", ""))
                if_range = self.headers.get("if-range")
                if server.ranges and wanted and (if_range is None or if_range == server.etag):
                    start = int(wanted.group(1))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                if server.ranges:
                    self.send_header("Accept-Ranges", "bytes")
                    self.send_header("ETag", server.etag)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                cut = server.cut_after.pop(0) if server.cut_after else None
                if cut is None:
                    self.wfile.write(body[start:])
                else:
                    self.wfile.write(body[start : start + cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)  # the peer sees the body end early

        self.loopback = LoopbackServer(Handler).__enter__()
        return self

    @property
    def etag(self) -> str:
        return f'"v{len(self.body)}"'

    def url(self, path: str = "/video.mp4") -> str:
        return self.loopback.url(path)

    def __exit__(self, *exc: object) -> None:
        self.loopback.__exit__(*exc)
