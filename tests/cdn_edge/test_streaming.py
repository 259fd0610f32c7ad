"""Waiters on a collapsed fetch get the body as it arrives, not when the upstream finishes."""

from __future__ import annotations

import asyncio
import threading
from contextlib import ExitStack
from pathlib import Path

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cdn_edge.app import create_app as create_edge
from storage.filesystem import FilesystemObjectStore
from tests.cdn_edge.conftest import serving
from tests.cdn_edge.edge_stack import ASSET, edge_settings, make_origin

BIG = f"{ASSET}/1080p/seg_00001.m4s"
BODY = bytes(range(256)) * 4096 * 2  # 2 MiB: several store chunks


class GatedBody:
    """Passes the real origin's answer through, holding every body chunk after the first until released."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gate = threading.Event()
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.requests += 1
        chunks = 0

        async def gated(message: Message) -> None:
            nonlocal chunks
            if message["type"] == "http.response.body":
                chunks += 1
                while chunks > 1 and not self.gate.is_set():
                    await asyncio.sleep(0.02)
            await send(message)

        await self.app(scope, receive, gated)


def test_waiters_stream_before_the_fetch_ends(tmp_path: Path) -> None:
    origin = GatedBody(make_origin(tmp_path))
    FilesystemObjectStore(tmp_path / "objects").put_bytes("media", BIG, BODY)

    async def client(url: str, first: asyncio.Queue[int]) -> bytes:
        async with httpx.AsyncClient(timeout=30) as c, c.stream("GET", url) as r:
            got = b""
            async for chunk in r.aiter_raw():
                if not got:
                    await first.put(len(chunk))
                got += chunk
            return got

    async def scenario(url: str) -> list[bytes]:
        first: asyncio.Queue[int] = asyncio.Queue()
        tasks = [asyncio.create_task(client(url, first)) for _ in range(20)]
        for _ in range(20):  # every waiter has bytes while the origin still holds back the rest
            await asyncio.wait_for(first.get(), timeout=20)
        assert not any(t.done() for t in tasks)
        origin.gate.set()
        return await asyncio.gather(*tasks)

    with ExitStack() as stack:
        o = stack.enter_context(serving(origin))
        edge = stack.enter_context(serving(create_edge(edge_settings(tmp_path, "edge", "edge", o.url))))
        bodies = asyncio.run(scenario(f"{edge.url}/{BIG}"))
    assert all(b == BODY for b in bodies)
    assert origin.requests == 1
