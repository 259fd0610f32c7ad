"""One asset published by the real pipeline for the image tests: 8 s of testsrc2 at 640x360 and 25 fps,
2 s segments, so its ladder has two video rungs (416 and 640 wide) and every frame differs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from catalog.settings import CatalogSettings
from origin.settings import OriginSettings
from storage.settings import StorageSettings
from tests.media import make_clip
from tests.transcoder.harness import assert_succeeded, pipeline_context, submit
from transcoder.pipeline import run_job

SECONDS = 8.0
FPS = 25


@dataclass(frozen=True)
class Published:
    root: Path
    source: Path
    asset_id: str

    def origin_settings(self, **overrides: object) -> OriginSettings:
        return OriginSettings(
            storage=StorageSettings(root=self.root / "objects"),
            catalog=CatalogSettings(url=f"sqlite:///{self.root / 'catalog.db'}"),
            **overrides,  # type: ignore[arg-type]
        )


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory) -> Published:
    root = tmp_path_factory.mktemp("images")
    ctx = pipeline_context(root)
    source = make_clip(root / "source.mp4", seconds=SECONDS, size="640x360", rate=str(FPS))
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    assert_succeeded(ctx, asset_id, job_id)
    ctx.catalog.dispose()
    return Published(root, source, asset_id)
