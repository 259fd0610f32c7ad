"""The encoded headers of fresh memory hits (cdn_edge.fastpath): bounded in number, and a key whose
headers were dropped is encoded again, answering the same as before."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

import cdn_edge.fastpath
from cdn_edge.app import create_app as create_edge
from cdn_edge.fastpath import FreshHits
from storage.filesystem import FilesystemObjectStore
from tests.cdn_edge.edge_stack import ASSET, MASTER, MASTER_PLAYLIST, PLAYLIST, edge_settings, make_origin

pytestmark = pytest.mark.anyio

KEYS = [MASTER, PLAYLIST, f"{ASSET}/360p/init.mp4"]


async def settled(edge: FastAPI) -> None:
    for _ in range(1000):  # bounded at 10 s
        if not edge.state.node.collapser.inflight:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("fills still running")


async def hit(client: httpx.AsyncClient, edge: FastAPI, key: str) -> httpx.Response:
    """The answer to `key` once the memory tier holds it: a fresh hit, answered by FreshHits."""
    await client.get(f"/{key}")
    await settled(edge)
    response = await client.get(f"/{key}")
    assert response.headers["cache-status"].endswith("; hit")
    return response


async def test_encoded_headers_are_bounded_and_reencoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cdn_edge.fastpath, "MAX_ENCODED", 2)
    origin = make_origin(tmp_path)
    edge = create_edge(edge_settings(tmp_path, "edge", "edge", "http://origin"), transport=httpx.ASGITransport(origin))
    hits: FreshHits = edge.state.hits
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url="http://edge") as client:
        first = {key: await hit(client, edge, key) for key in KEYS}
        assert len(hits.encoded) == 2 and MASTER not in hits.encoded  # the oldest went
        again = await hit(client, edge, MASTER)
        assert MASTER in hits.encoded and len(hits.encoded) == 2
    assert again.content == first[MASTER].content
    assert {k: v for k, v in again.headers.items() if k != "age"} == {
        k: v for k, v in first[MASTER].headers.items() if k != "age"
    }


async def test_a_refreshed_object_is_answered_with_its_new_headers(tmp_path: Path) -> None:
    origin = make_origin(tmp_path)
    now = [1_000_000.0]
    edge = create_edge(
        edge_settings(tmp_path, "edge", "edge", "http://origin"),
        transport=httpx.ASGITransport(origin),
        clock=lambda: now[0],
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url="http://edge") as client:
        before = await hit(client, edge, MASTER)
        changed = MASTER_PLAYLIST + b"#EXT-X-STREAM-INF:BANDWIDTH=1600000\n720p/index.m3u8\n"
        FilesystemObjectStore(tmp_path / "objects").put_bytes("media", MASTER, changed)
        await settled(edge)  # a fill still running would answer the request after the jump
        now[0] += 3600  # past max-age and every stale allowance: fetched again
        after = await hit(client, edge, MASTER)
    assert before.content == MASTER_PLAYLIST and after.content == changed
    assert after.headers["content-length"] == str(len(changed))
    assert after.headers["etag"] != before.headers["etag"]
