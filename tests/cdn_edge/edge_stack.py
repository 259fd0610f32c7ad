"""Builders shared by the cdn_edge tests: a published asset in a filesystem store, and an origin
wrapped so tests can count, slow down or break the requests that reach it (the origin itself is real)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from cdn_edge.settings import EdgeSettings
from origin.app import create_app as create_origin
from origin.settings import OriginSettings
from storage.filesystem import FilesystemObjectStore
from storage.settings import StorageSettings

ASSET = "a1b2c3"
SEGMENT = f"{ASSET}/360p/seg_00001.m4s"
PLAYLIST = f"{ASSET}/360p/index.m3u8"
MASTER = f"{ASSET}/master.m3u8"
SEGMENT_BYTES = bytes(range(256)) * 1024  # 256 KiB, every offset distinguishable mod 256
MEDIA_PLAYLIST = (
    b"#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    b'#EXT-X-MAP:URI="init.mp4"\n#EXTINF:4.000,\nseg_00001.m4s\n#EXTINF:4.000,\nseg_00002.m4s\n#EXT-X-ENDLIST\n'
)
MASTER_PLAYLIST = b'#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS="avc1.64001e"\n360p/index.m3u8\n'


def publish(root: Path) -> FilesystemObjectStore:
    store = FilesystemObjectStore(root)
    store.ensure_bucket("media")
    store.put_bytes("media", SEGMENT, SEGMENT_BYTES)
    store.put_bytes("media", f"{ASSET}/360p/seg_00002.m4s", SEGMENT_BYTES[::-1])
    store.put_bytes("media", f"{ASSET}/360p/init.mp4", b"init" * 100)
    store.put_bytes("media", PLAYLIST, MEDIA_PLAYLIST)
    store.put_bytes("media", MASTER, MASTER_PLAYLIST)
    return store


def origin_settings(root: Path, **overrides: object) -> OriginSettings:
    return OriginSettings(storage=StorageSettings(root=root), **overrides)  # type: ignore[arg-type]


def make_origin(root: Path, **overrides: object) -> ASGIApp:
    store = publish(root / "objects")
    return create_origin(origin_settings(root / "objects", **overrides), store=store)


def edge_settings(tmp: Path, name: str, role: str, upstream: str, **overrides: object) -> EdgeSettings:
    values: dict[str, object] = {
        "name": name, "role": role, "upstream_url": upstream, "disk_dir": tmp / "cache" / name,
        "memory_budget_bytes": 8 * 1024 * 1024, "disk_budget_bytes": 64 * 1024 * 1024,
    }  # fmt: skip
    values.update(overrides)
    return EdgeSettings(**values)  # type: ignore[arg-type]


class ManualClock:
    """The nodes' wall clock, moved only by the test: freshness, ages and breaker cool-downs on every node
    that shares it expire when the test says so, however slowly a loaded machine runs the requests."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Instrumented:
    """Wraps the real origin: counts requests per path, and can delay, fail or hang them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self.delay = 0.0
        self.mode = "up"  # "up", "error" (500), "hang"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in ("/healthz", "/metrics"):
            self.counts[scope["path"].lstrip("/")] += 1
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.mode == "error":
                await send({"type": "http.response.start", "status": 500, "headers": []})
                await send({"type": "http.response.body", "body": b"down"})
                return
            while self.mode == "hang":
                await asyncio.sleep(0.05)
        await self.app(scope, receive, send)

    @property
    def total(self) -> int:
        return sum(self.counts.values())
