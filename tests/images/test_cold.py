"""Images are never made from cold media: with the asset's objects archived, a thumbnail answers 503
with Retry-After while the restore runs (not an image from elsewhere, cached for a year), then 200."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest

from catalog.session import Catalog
from catalog.settings import CatalogSettings
from origin.app import create_app as create_origin
from storage.filesystem import FilesystemObjectStore
from tests.images.conftest import Published
from tests.tiering.simulated import SETTINGS, Clock
from tiering.index import DAY, Tier, TierIndex
from tiering.lifecycle import apply_lifecycle
from tiering.store import TieredObjectStore

pytestmark = pytest.mark.ffmpeg


def test_archived_rungs_answer_503_until_restored(published: Published, tmp_path: Path) -> None:
    clock = Clock()
    tiers = Catalog(CatalogSettings(url=f"sqlite:///{tmp_path / 'tiers.db'}"))
    base = FilesystemObjectStore(tmp_path / "objects")
    base.ensure_bucket("media")
    store = TieredObjectStore(base, TierIndex(tiers), SETTINGS, "media", clock)
    source = FilesystemObjectStore(published.root / "objects")
    for info in source.list("media", f"{published.asset_id}/"):
        store.put_bytes("media", info.key, source.get_bytes("media", info.key))
    clock.now += 200 * DAY
    apply_lifecycle(store.index, store.settings, clock.now)
    apply_lifecycle(store.index, store.settings, clock.now)
    master = next(i.key for i in source.list("media", f"{published.asset_id}/") if i.key.endswith("/master.m3u8"))
    assert store.index.tier_of("media", master) is Tier.COLD
    origin = create_origin(published.origin_settings(), store=store, clock=clock)

    async def thumbnail() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=origin), base_url="http://o") as client:
            return await client.get(f"/{published.asset_id}/thumbnail.jpg?time=3&width=320")

    answers = []
    for _ in range(6):  # master, media playlist, init, segment(s): each cold object costs one restore
        answer = anyio.run(thumbnail)
        answers.append(answer.status_code)
        if answer.status_code == 200:
            break
        assert (answer.status_code, answer.json()["error"]) == (503, "object_archived")
        assert answer.headers["cache-control"] == "no-store" and int(answer.headers["retry-after"]) >= 1
        clock.now += SETTINGS.restore_seconds + 1
    assert answers[0] == 503 and answers[-1] == 200, answers
    assert answer.headers["content-type"] == "image/jpeg"
    assert store.index.counters()["restores"] == len(answers) - 1
    tiers.dispose()
