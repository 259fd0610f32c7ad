"""hls.js in Debian's Chromium (which decodes AV1) picks the AV1 rungs of a master listing both codec
families, and falls back to the H.264 rungs when the browser says it cannot decode AV1
(MediaSource.isTypeSupported patched to refuse av01, as a browser without the decoder answers)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.browser.harness import run_script, serving_directory
from tests.media import make_clip
from tests.transcoder.harness import assert_succeeded, pipeline_context, published_prefix, submit
from transcoder.pipeline import run_job


@pytest.fixture(scope="module")
def stream_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("av1-playback")
    ctx = pipeline_context(tmp, av1=True, av1_preset=12)
    asset_id, job_id = submit(ctx, make_clip(tmp / "clip.mp4", seconds=4, size="640x360"))
    run_job(ctx, job_id)
    assert_succeeded(ctx, asset_id, job_id)
    root = ctx.settings.storage.root / "media" / published_prefix(ctx, asset_id)
    with serving_directory(root) as url:
        yield url


def video_rungs(segments: list[str]) -> set[str]:
    """The rendition directories of the video segments fetched ("/360p-av1/seg_00001.m4s" -> "360p-av1")."""
    return {path.split("/")[-2] for path in segments if not path.split("/")[-2].startswith("audio")}


@pytest.mark.browser
@pytest.mark.ffmpeg
def test_hls_js_plays_av1_where_it_decodes_and_h264_where_it_does_not(stream_url: str) -> None:
    report = run_script("play.mjs", "--codec-hls", f"{stream_url}/master.m3u8", "--refuse-codec", "av01")
    capable, h264_only = report["results"]

    assert capable["checks"]["av1_type_supported"] is True  # Debian's Chromium decodes AV1
    assert capable["checks"]["current"].startswith("av01.0."), json.dumps(report, indent=1)
    fetched = video_rungs(capable["checks"]["segments"])
    assert fetched and all(name.endswith("-av1") for name in fetched), capable
    assert capable["checks"]["frames"] > 0 and capable["checks"]["height"] in (234, 360)

    assert h264_only["checks"]["av1_type_supported"] is False
    assert {level["videoCodec"][:4] for level in h264_only["checks"]["levels"]} == {"avc1"}, h264_only
    assert h264_only["checks"]["current"].startswith("avc1."), h264_only
    fetched = video_rungs(h264_only["checks"]["segments"])
    assert fetched and not any(name.endswith("-av1") for name in fetched), h264_only
    assert h264_only["checks"]["frames"] > 0
