"""The content-aware ladder with real ffmpeg: samples scored with VMAF (transcoder.encode.analysis), and a
job that fits its ladder to the source, records why, and publishes it like any other."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC
from pathlib import Path

import pytest

from catalog.models import Asset, Job, utcnow
from tests.media import ffmpeg_exe, make_clip
from tests.transcoder.harness import assert_succeeded, pipeline_context, submit
from tests.transcoder.ladder_checks import check_published_ladder
from transcoder import pipeline
from transcoder.encode import analysis, fitted
from transcoder.encode.ladder import plan_ladder
from transcoder.errors import EncodeFailed
from transcoder.pipeline import run_job
from transcoder.worker import bookkeeping

pytestmark = pytest.mark.ffmpeg

# Film grain over the test pattern: detail that costs bits, as camera footage does.
GRAIN = ["-vf", "noise=alls=24:allf=t"]


def test_windows_start_just_before_a_frame() -> None:
    assert analysis.on_frame_grid(26.562, 24.0) == pytest.approx(636.75 / 24)
    assert analysis.on_frame_grid(26.565, 24.0) == pytest.approx(637.75 / 24)
    assert analysis.on_frame_grid(0.0, 30.0) == 0.0 and analysis.on_frame_grid(0.004, 30.0) == 0.0


@pytest.mark.parametrize("start", [0.5, 0.5203])  # on a frame; about half a frame after one (24 fps)
def test_samples_are_scored_against_the_source_frame_for_frame(tmp_path: Path, start: float) -> None:
    # 24 fps with B-frames, as camera and web uploads are: a window starting between frames is cut
    # differently by the encode's and the reference's decodes unless it is moved onto the frame grid
    # (without it, the lossless sample from 0.5203 s scored 37.5 against its own reference).
    source = make_clip(
        tmp_path / "grain.mp4",
        seconds=3,
        size="640x360",
        rate="24",
        audio=False,
        extra_video_args=[*GRAIN, "-bf", "3", "-preset", "medium"],
    )
    plan = analysis.plan_analysis(str(source), 3.0, 640, 360, 24.0, crfs=(0.0, 26.0, 38.0))
    assert plan.shorts == (234, 360) and plan.windows == ((analysis.on_frame_grid(0.5, 24.0), 2.0),)
    plan = replace(plan, windows=((analysis.on_frame_grid(start, 24.0), 2.0),))
    by_point = {(m.short, m.crf): m for m in analysis.measure(plan, tmp_path / "work", ffmpeg_exe(), timeout=300)}
    assert len(by_point) == 6
    # Lossless at the source's size scores as the source itself: reference and sample are the same
    # frames, in step (one frame of offset costs tens of points on moving grain).
    assert by_point[360, 0.0].vmaf >= 97.0
    for short in (234, 360):
        points = [by_point[short, crf] for crf in (0.0, 26.0, 38.0)]
        assert [p.bitrate for p in points] == sorted((p.bitrate for p in points), reverse=True)
        assert [p.vmaf for p in points] == sorted((p.vmaf for p in points), reverse=True)
        assert all(0.0 <= p.vmaf <= 100.0 for p in points)
    # A smaller picture upscaled loses detail that bits cannot buy back.
    assert by_point[234, 0.0].vmaf < by_point[360, 0.0].vmaf - 3


def test_job_fits_its_ladder_records_it_and_reuses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = pipeline_context(tmp_path, ladder="content_aware", ladder_min_duration_seconds=0.0)
    source = make_clip(tmp_path / "grain.mp4", seconds=6, size="640x360", extra_video_args=GRAIN)
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)

    with ctx.catalog.session() as s:
        asset = s.get(Asset, asset_id)
        assert asset is not None and asset.ladder_analysis is not None
        measurements = asset.ladder_analysis["measurements"]
        videos = sorted((r for r in asset.renditions if r.kind == "video"), key=lambda r: r.bandwidth or 0)
        quality = [(r.name, r.target_vmaf, r.sampled_vmaf) for r in videos]
    assert {(m["short"], m["crf"]) for m in measurements} == {(s, c) for s in (234, 360) for c in analysis.CRFS}
    assert videos and all(sampled is not None for _n, _t, sampled in quality), quality
    assert [sampled for _n, _t, sampled in quality] == sorted(sampled for _n, _t, sampled in quality)  # type: ignore[type-var]
    source_bits = source.stat().st_size * 8 / 6.0
    for rendition in videos:
        assert (rendition.bandwidth or 0) <= source_bits * 1.25, rendition.name  # measured peak, container included
    if len(videos) >= 2:
        check_published_ladder(ctx, asset_id, source_seconds=6.0, source_size=(640, 360), segment_seconds=2.0)

    # Another attempt (or a split job's join) plans from the recorded measurements, running nothing.
    def no_analysis(*_args: object, **_kwargs: object) -> list[object]:
        raise AssertionError("the analysis ran again")

    monkeypatch.setattr(fitted, "measure_source", no_analysis)
    from media.probe_sandbox import probe_stored
    from transcoder.worker.attempt import Attempt

    info = probe_stored(
        ctx.store, ctx.staging, f"originals/{source.name}", ctx.settings.probe, pipeline._limits(ctx.settings)
    )
    again, recorded = pipeline._plan_ladder(
        ctx, Attempt(job_id, asset_id, 2), f"originals/{source.name}", info, tmp_path / "w2"
    )
    assert recorded is not None and recorded["measurements"] == measurements
    assert [r.name for r in again.rungs] == [r.name for r in videos]
    assert [(r.target_vmaf, r.sampled_vmaf) for r in again.rungs] == [(t, v) for _n, t, v in quality]
    # Not Apple's ladder: the rungs are where the samples said the steps are.
    fixed = plan_ladder(640, 360, 30.0, has_audio=True)
    assert [(r.height, r.bitrate) for r in fixed.rungs] != [(r.height, r.bitrate) for r in again.rungs]


def test_a_failed_analysis_falls_back_to_the_fixed_ladder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = pipeline_context(tmp_path, ladder="content_aware", ladder_min_duration_seconds=0.0)
    source = make_clip(tmp_path / "clip.mp4", seconds=2, size="640x360")

    def broken(*_args: object, **_kwargs: object) -> list[object]:
        raise EncodeFailed("ffmpeg failed (exit 1): libvmaf missing")

    monkeypatch.setattr(fitted, "measure_source", broken)
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    assert_succeeded(ctx, asset_id, job_id)
    with ctx.catalog.session() as s:
        asset = s.get(Asset, asset_id)
        assert asset is not None and asset.ladder_analysis is None
        assert sorted(r.name for r in asset.renditions) == ["234p", "360p", "audio"]


def test_the_analysis_runs_under_the_deadline_of_the_source_not_of_the_claim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job is claimed before its duration is known, under the minimum deadline; the analysis of a long
    source on a busy machine can outlast that minimum, so the deadline moves to the source's first."""
    monkeypatch.setattr(bookkeeping, "DEADLINE_MINIMUM", 1.0)  # a claim's deadline: 1 s
    ctx = pipeline_context(tmp_path, ladder="content_aware", ladder_min_duration_seconds=0.0)
    source = make_clip(tmp_path / "clip.mp4", seconds=2, size="320x180")
    left: list[float] = []

    def deadline_seen(*_args: object, **_kwargs: object) -> list[object]:
        with ctx.catalog.session() as s:
            job = s.get(Job, job_id)
            assert job is not None and job.deadline_at is not None
            deadline = job.deadline_at.replace(tzinfo=job.deadline_at.tzinfo or UTC)  # SQLite keeps no zone
            left.append((deadline - utcnow()).total_seconds())
        raise EncodeFailed("stop here: the fixed ladder is used")

    monkeypatch.setattr(fitted, "measure_source", deadline_seen)
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    assert_succeeded(ctx, asset_id, job_id)
    # 2 s of source: 20 x 2 = 40 s, against the claim's 1 s.
    assert len(left) == 1 and 30 < left[0] <= bookkeeping.job_deadline_seconds(2.0), left


def test_sources_of_very_different_complexity_get_different_ladders(tmp_path: Path) -> None:
    """Issue 17: the same job on a soft, easy source and on a grainy, hard one (same size, length and
    frame rate) publishes two different ladders, each from its own analysis."""
    ctx = pipeline_context(tmp_path, ladder="content_aware", ladder_min_duration_seconds=0.0)
    sources = {
        "easy": make_clip(tmp_path / "easy.mp4", size="640x360", extra_video_args=["-vf", "boxblur=10:3"]),
        "hard": make_clip(tmp_path / "hard.mp4", size="640x360", extra_video_args=GRAIN),
    }
    ladders = {}
    for name, source in sources.items():
        asset_id, job_id = submit(ctx, source)
        run_job(ctx, job_id)
        assert_succeeded(ctx, asset_id, job_id)
        with ctx.catalog.session() as s:
            asset = s.get(Asset, asset_id)
            assert asset is not None and asset.ladder_analysis is not None
            videos = sorted((r for r in asset.renditions if r.kind == "video"), key=lambda r: r.bandwidth or 0)
            ladders[name] = [(r.height, r.bandwidth or 0, r.sampled_vmaf) for r in videos]
        if len(videos) >= 2:
            check_published_ladder(ctx, asset_id, source_seconds=6.0, source_size=(640, 360), segment_seconds=2.0)
    easy, hard = ladders["easy"], ladders["hard"]
    assert easy != hard, ladders
    # Rung for rung, the hard source spends more (peaks measured from the published segments) and its
    # samples promise less (grain is capped by what the source itself spends; the soft one reaches 90+).
    assert len(hard) >= len(easy)
    for (_h, easy_bits, easy_vmaf), (_h2, hard_bits, hard_vmaf) in zip(easy, hard[-len(easy) :], strict=True):
        assert hard_bits > 1.5 * easy_bits, ladders
        assert (hard_vmaf or 0) < (easy_vmaf or 0) - 10, ladders
    assert (easy[-1][2] or 0) >= 90, ladders


def test_the_analysis_scores_every_second_frame(tmp_path: Path) -> None:
    plan = analysis.plan_analysis("src.mp4", 40.0, 1280, 720, 30.0)
    argv = analysis.vmaf_argv(plan, plan.windows[0], tmp_path, "ffmpeg")
    graph = argv[argv.index("-filter_complex") + 1]
    assert graph.count("libvmaf=") == graph.count("n_subsample=2") == len(plan.shorts) * len(plan.crfs) == 12


def test_every_second_frame_ranks_sizes_and_crfs_as_every_frame_does(tmp_path: Path) -> None:
    # On the grain and trailer windows n_subsample 2 read at most 1.6 VMAF off every frame's (3 and 4 read
    # up to 2.4 and 3.9, and moved rungs): the points keep their order by CRF and by size. On this clip
    # every 2nd frame read 0.42 off, every 8th 1.03, every 24th 2.89.
    source = make_clip(
        tmp_path / "grain.mp4", seconds=3, size="640x360", rate="24", audio=False, extra_video_args=GRAIN
    )
    plan = analysis.plan_analysis(str(source), 3.0, 640, 360, 24.0)
    assert plan.vmaf_subsample == 2
    every = {
        (m.short, m.crf): m.vmaf
        for m in analysis.measure(replace(plan, vmaf_subsample=1), tmp_path / "one", ffmpeg_exe(), timeout=300)
    }
    second = {(m.short, m.crf): m.vmaf for m in analysis.measure(plan, tmp_path / "two", ffmpeg_exe(), timeout=300)}
    assert second.keys() == every.keys() and len(every) == 6
    for short in plan.shorts:
        assert sorted(plan.crfs, key=lambda c: every[short, c]) == sorted(plan.crfs, key=lambda c: second[short, c])
    for crf in plan.crfs:
        assert sorted(plan.shorts, key=lambda s: every[s, crf]) == sorted(plan.shorts, key=lambda s: second[s, crf])
    assert max(abs(second[p] - every[p]) for p in every) <= 0.8, (every, second)
