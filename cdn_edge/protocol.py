"""Fresh memory hits answered by uvicorn's HTTP protocol, before any ASGI request exists.

For a 2 KB playlist, what uvicorn does around the app (an ASGI scope, a task per request, the send
and receive coroutines) costs more than FastHits itself. HitProtocol is uvicorn's httptools protocol,
passed through the `http=` setting of uvicorn.Config, that answers a request FreshHits allows as soon
as its head is parsed: one write of status line, headers and body, synchronously. Every other
request, and any request while an earlier one on the connection is still being answered, goes on
to uvicorn's own handling unchanged.

This leans on HttpToolsProtocol's attributes (cycle, pipeline, flow, parser); tests/cdn_edge/
test_hit_protocol.py pins the connection behaviour a uvicorn upgrade must keep.
"""

from __future__ import annotations

import asyncio
import functools
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from cdn_edge.fastpath import FreshHits

# Bodies up to this size go out in one buffer with the head (one copy, one send); larger ones are
# handed over as they are, not copied.
JOIN_LIMIT = 64 * 1024


class _Answered(RequestResponseCycle):
    """What uvicorn's callbacks (on_body, on_message_complete, connection_lost, shutdown) find as the
    current cycle after a direct answer: a response already complete."""

    def __init__(self) -> None:  # nothing of a request to hold
        self.response_complete = True
        self.disconnected = False
        self.keep_alive = False
        self.message_event = asyncio.Event()  # set() without waiters: touches no loop


ANSWERED = _Answered()


class HitProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        hits: FreshHits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.hits = hits
        self._defaults: list[tuple[bytes, bytes]] | None = None
        self._defaults_block = b""

    def on_message_begin(self) -> None:
        # The ASGI scope is built only for a request that goes to the app (in _to_app).
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        if not self._answer():
            self._to_app()

    def _to_app(self) -> None:
        # A direct answer earlier in this read armed the keep-alive timer; this request is in flight now.
        self._unset_keepalive_if_required()
        url, headers, expect_100_continue = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()
        self.url, self.expect_100_continue = url, expect_100_continue
        self.headers = self.scope["headers"] = headers
        super().on_headers_complete()

    def _answer(self) -> bool:
        """Answer the request whose head was just parsed, if FreshHits allows it and nothing else on
        this connection is waiting to be answered first. False: not answered, nothing written."""
        started = time.perf_counter()
        cycle, parser, transport = self.cycle, self.parser, self.transport
        if (cycle is not None and not cycle.response_complete) or self.pipeline:
            return False  # a response before it is not complete yet: answers go out in order
        if self.flow.write_paused or transport.is_closing() or parser.should_upgrade():
            return False  # the general path waits for the client to read; upgrades are not hits
        if self.limit_concurrency is not None and (
            len(self.connections) >= self.limit_concurrency or len(self.tasks) >= self.limit_concurrency
        ):
            return False  # uvicorn answers 503
        try:
            url = httptools.parse_url(self.url)
            path = url.path.decode("ascii")
        except (httptools.HttpParserInvalidURLError, UnicodeDecodeError):
            return False  # the general path rejects it the way uvicorn does
        if "%" in path:
            path = urllib.parse.unquote(path)
        path = self.root_path + path
        method = parser.get_method().decode("ascii")
        found = self.hits.find(method, path, url.query or b"", self.headers)
        if found is None or not self.hits.admit(self.client[0] if self.client else None, self.headers):
            return False  # not a hit, or over the client's rate limit: the app answers (429)

        encoded, body, age = found
        http_version = parser.get_http_version()
        keep_alive = http_version != "1.0" and parser.should_keep_alive()
        defaults = self.server_state.default_headers  # replaced, not changed, when the Date ticks
        if defaults is not self._defaults:
            self._defaults = defaults
            self._defaults_block = b"".join(b"%s: %s\r\n" % header for header in defaults)
        head = b"".join((
            STATUS_LINE[200], self._defaults_block, encoded.block, b"age: %d\r\n" % age,
            b"" if keep_alive else b"connection: close\r\n", b"\r\n",
        ))  # fmt: skip
        head_only = method == "HEAD"
        self.hits.direct += 1  # before the write: whoever reads the answer sees it counted
        if head_only:
            transport.write(head)
        elif len(body) <= JOIN_LIMIT:
            transport.write(head + body)
        else:
            transport.writelines((head, body))
        if self.access_log:  # uvicorn's line (RequestResponseCycle.send)
            client = f"{self.client[0]}:{self.client[1]}" if self.client else ""
            quoted = urllib.parse.quote(path)
            self.access_logger.info('%s - "%s %s HTTP/%s" %d', client, method, quoted, http_version, 200)
        self.cycle = ANSWERED
        if not keep_alive:
            transport.close()
        self.on_response_complete()  # counts the request, resumes reading, re-arms keep-alive
        self.hits.served(head_only, len(body), started)
        return True


def hit_protocol(hits: FreshHits) -> Callable[..., HitProtocol]:
    """What to pass as uvicorn.Config(http=...): HitProtocol bound to a node's FreshHits."""
    return functools.partial(HitProtocol, hits=hits)
