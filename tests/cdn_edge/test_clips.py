"""Instant clips through an edge and a shield to the origin: each range is its own cache entry at
every node, never served for another range or the whole asset; bad ranges are refused at the
edge (nothing goes upstream); a still-encoding asset answers 409; range-bound tokens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from cdn_edge.app import create_app as create_edge
from manifests import dash
from playback.clips import ClipRange
from playback.signing import sign_token
from tests.cdn_edge.edge_stack import ASSET, MASTER, PLAYLIST, Instrumented, edge_settings, make_origin
from tests.manifests.manifest_samples import ladder

pytestmark = pytest.mark.anyio
SECRET = "clip-secret"
MPD = f"{ASSET}/manifest.mpd"
GROWING = f"{ASSET}/growing/index.m3u8"


class Stack:
    def __init__(self, tmp_path: Path, access: str = "public") -> None:
        self.origin = Instrumented(make_origin(tmp_path, access=access))
        store = self.origin.app.state.origin.store  # type: ignore[attr-defined]
        store.put_bytes("media", MPD, dash.render_mpd(*ladder(), duration=9.5).encode())
        store.put_bytes("media", GROWING, b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nseg_00001.m4s\n")
        overrides = {"signing_secret": SECRET, "purge_token": "p"}
        shield = create_edge(
            edge_settings(tmp_path, "shield", "shield", "http://origin", **overrides),
            transport=httpx.ASGITransport(app=self.origin),
        )
        self.shield = Instrumented(shield)
        self.edge = create_edge(
            edge_settings(tmp_path, "edge", "edge", "http://shield", **overrides),
            transport=httpx.ASGITransport(app=self.shield),
        )


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[Stack, httpx.AsyncClient]]:
    s = Stack(tmp_path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=s.edge), base_url="http://e") as c:
        yield s, c


def _segments(text: str) -> list[str]:
    return [s.uri.split("?")[0] for s in m3u8.loads(text).segments]


async def test_each_range_is_cached_on_its_own(stack: tuple[Stack, httpx.AsyncClient]) -> None:
    s, c = stack
    full = await c.get(f"/{PLAYLIST}")
    first = await c.get(f"/{PLAYLIST}", params={"start": "0", "end": "4"})
    second = await c.get(f"/{PLAYLIST}", params={"start": "4", "end": "8"})
    assert _segments(full.text) == ["seg_00001.m4s", "seg_00002.m4s"]
    assert _segments(first.text) == ["seg_00001.m4s"]
    assert _segments(second.text) == ["seg_00002.m4s"]
    assert s.origin.counts[PLAYLIST] == 3  # three objects, three fills
    for _ in range(2):
        # the same ranges again, also spelled differently: hits at the edge, each its own body
        again_full = await c.get(f"/{PLAYLIST}")
        again_first = await c.get(f"/{PLAYLIST}", params={"start": "0.000", "end": "4.0"})
        again_second = await c.get(f"/{PLAYLIST}", params={"end": "8", "start": "4", "other": "x"})
        assert [r.text for r in (again_full, again_first, again_second)] == [full.text, first.text, second.text]
        assert all(r.headers["cache-status"].endswith("edge; hit") for r in (again_first, again_second))
    assert s.origin.counts[PLAYLIST] == 3
    assert s.shield.counts[PLAYLIST] == 3
    assert "max-age" in first.headers["cache-control"] and "public" in first.headers["cache-control"]
    assert first.headers["etag"] not in (full.headers["etag"], second.headers["etag"])


async def test_a_clipped_master_passes_its_range_to_every_playlist(stack: tuple[Stack, httpx.AsyncClient]) -> None:
    _, c = stack
    master = m3u8.loads((await c.get(f"/{MASTER}", params={"start": "4.5", "end": "8"})).text)
    assert [p.uri for p in master.playlists] == ["360p/index.m3u8?start=4.5&end=8"]
    media = await c.get(f"/{ASSET}/{master.playlists[0].uri}")
    assert _segments(media.text) == ["seg_00002.m4s"]


async def test_dash(stack: tuple[Stack, httpx.AsyncClient]) -> None:
    _, c = stack
    r = await c.get(f"/{MPD}", params={"start": "2", "end": "6"})
    assert r.status_code == 200
    mpd = MPEGDASHParser.parse(r.text)
    assert mpd.media_presentation_duration == "PT4.016S"
    templates = [a.representations[0].segment_templates[0] for a in mpd.periods[0].adaptation_sets]
    assert [t.start_number for t in templates] == [2, 2]
    full = MPEGDASHParser.parse((await c.get(f"/{MPD}")).text)
    assert full.media_presentation_duration == "PT9.500S"


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("start=abc&end=4", 400, "clip_invalid"),
        ("start=nan&end=4", 400, "clip_invalid"),
        ("start=0&end=inf", 400, "clip_invalid"),
        ("start=-2&end=4", 400, "clip_invalid"),
        ("start=4&end=4", 400, "clip_invalid"),
        ("start=6&end=2", 400, "clip_invalid"),
        ("start=9.6&end=20", 400, "clip_outside_media"),
        ("start=100", 400, "clip_outside_media"),
    ],
)
async def test_bad_ranges(stack: tuple[Stack, httpx.AsyncClient], query: str, status: int, code: str) -> None:
    s, c = stack
    for path in (MASTER, PLAYLIST, MPD):
        for _ in range(2):  # never cached: the second answer is the same refusal
            r = await c.get(f"/{path}?{query}")
            assert (r.status_code, r.json()["error"]) == (status, code), path
            assert r.headers["cache-control"] == "no-store"
    # Malformed ranges are refused by the edge itself; a range past the end needs the media (origin).
    assert s.origin.total == (0 if code == "clip_invalid" else 6)
    # The whole playlist is unaffected.
    assert _segments((await c.get(f"/{PLAYLIST}")).text) == ["seg_00001.m4s", "seg_00002.m4s"]


async def test_end_past_the_media_is_clamped(stack: tuple[Stack, httpx.AsyncClient]) -> None:
    _, c = stack
    r = await c.get(f"/{PLAYLIST}", params={"start": "5", "end": "3600"})
    assert _segments(r.text) == ["seg_00002.m4s"]


async def test_an_asset_still_encoding_is_not_clipped(stack: tuple[Stack, httpx.AsyncClient]) -> None:
    _, c = stack
    r = await c.get(f"/{GROWING}", params={"start": "0", "end": "4"})
    assert (r.status_code, r.json()["error"]) == (409, "clip_not_ready")
    assert "still encoding" in r.json()["detail"]
    assert (await c.get(f"/{GROWING}")).status_code == 200  # played whole while it grows, as before


async def test_a_path_spelling_the_key_of_a_range_is_another_object(stack: tuple[Stack, httpx.AsyncClient]) -> None:
    _, c = stack
    assert (await c.get(f"/{PLAYLIST}%0Astart=0&end=4")).status_code == 400  # control characters: refused
    assert (await c.get(f"/{PLAYLIST}%3Fstart=0&end=4")).status_code == 404
    assert _segments((await c.get(f"/{PLAYLIST}", params={"start": "0", "end": "4"})).text) == ["seg_00001.m4s"]


async def test_purging_a_playlist_purges_its_ranges(stack: tuple[Stack, httpx.AsyncClient]) -> None:
    s, c = stack
    for _ in range(500):  # until the fill is stored at the edge (a fill still in flight would be discarded)
        r = await c.get(f"/{PLAYLIST}", params={"start": "0", "end": "4"})
        if r.headers["cache-status"].endswith("edge; hit"):
            break
        await asyncio.sleep(0.01)
    auth = {"authorization": "Bearer p"}
    assert (await c.post("/_purge", json={"keys": [PLAYLIST]}, headers=auth)).json() == {"purged": 1}
    await c.get(f"/{PLAYLIST}", params={"start": "0", "end": "4"})
    assert s.shield.counts[PLAYLIST] == 2


async def test_range_bound_tokens(tmp_path: Path) -> None:
    s = Stack(tmp_path, access="signed")
    bound = sign_token(SECRET.encode(), ASSET, int(time.time()) + 300, clip=ClipRange(0, 4_000))
    unbound = sign_token(SECRET.encode(), ASSET, int(time.time()) + 300)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=s.edge), base_url="http://e") as c:
        ok = await c.get(f"/{MASTER}", params={"start": "0", "end": "4", "token": bound})
        assert ok.status_code == 200
        variant = m3u8.loads(ok.text).playlists[0].uri
        assert variant == f"360p/index.m3u8?start=0&end=4&token={bound}"
        media = await c.get(f"/{ASSET}/{variant}")
        assert media.status_code == 200
        for uri in [
            m3u8.loads(media.text).segments[0].init_section.uri,
            *[x.uri for x in m3u8.loads(media.text).segments],
        ]:
            assert (await c.get(f"/{ASSET}/360p/{uri}")).status_code == 200  # signed URIs inside keep working
        for params in ({"start": "0", "end": "8"}, {"start": "4", "end": "8"}, {"start": "0"}, {}):
            for path in (MASTER, PLAYLIST, MPD):
                r = await c.get(f"/{path}", params={**params, "token": bound})
                assert (r.status_code, r.json()["error"]) == (403, "token_clip_mismatch"), (path, params)
        for params in ({"start": "0", "end": "8"}, {"start": "4", "end": "8"}, {}):
            assert (await c.get(f"/{PLAYLIST}", params={**params, "token": unbound})).status_code == 200
        assert (await c.get(f"/{PLAYLIST}", params={"start": "0", "end": "4"})).status_code == 403
