"""An upstream that generates its objects instead of reading them: GET /gen/<size>/<name> answers
<size> bytes of body(size), cacheable, with a Content-Length. Large fills cost it no disk and no
memory. `python -m tests.cdn_edge.generated_upstream PORT` serves it in a process of its own."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

BLOCK = bytes(i % 251 for i in range(1024 * 1024))  # 251 is prime: every offset of a block differs


def body(size: int) -> bytes:
    """The whole body of an object of `size` bytes (for checks on small ones)."""
    whole, rest = divmod(size, len(BLOCK))
    return BLOCK * whole + BLOCK[:rest]


class Generated:
    """The app, with a count of requests and of those in progress. Optional gates: `gate` holds every
    answer until set; `hold` (for an app served in another thread) holds every body after its first
    block until set."""

    def __init__(
        self,
        gate: asyncio.Event | None = None,
        cache_control: str = "public, max-age=3600",
        hold: threading.Event | None = None,
    ) -> None:
        self.gate = gate
        self.hold = hold
        self.cache_control = cache_control
        self.requests = 0
        self.active = 0
        self.peak = 0
        self.app = Starlette(routes=[Route("/gen/{size:int}/{name}", self.serve)])

    async def serve(self, request: Request) -> Response:
        size: int = request.path_params["size"]
        self.requests += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.gate is not None:
                await self.gate.wait()
        finally:
            self.active -= 1
        headers = {
            "content-length": str(size), "cache-control": self.cache_control,
            "etag": f'"{size}-{request.path_params["name"]}"',
        }  # fmt: skip
        return StreamingResponse(self.chunks(size), media_type="application/octet-stream", headers=headers)

    async def chunks(self, size: int) -> AsyncIterator[bytes]:
        sent = 0
        while sent < size:
            if sent and self.hold is not None:
                while not self.hold.is_set():
                    await asyncio.sleep(0.01)  # waiting for the test, not timing anything
            chunk = BLOCK if size - sent >= len(BLOCK) else BLOCK[: size - sent]
            sent += len(chunk)
            yield chunk


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(Generated().app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
