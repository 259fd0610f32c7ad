"""Sources cut with `-c copy`, whose streams neither start nor end together, through the real pipeline.

A stream copy cuts each stream on its own packets (video frames of 1/24 s, AAC frames of 1/46.875 s),
and an `-ss` cut starts on the keyframe before the cut point with an edit list hiding the frames before
it. Every rendition must still last the source's duration (the video held on its last frame, the audio
padded with silence), have no hole, and keep the audio in sync with the picture.

The tone is quiet with a full-scale click on every whole second: its true peak is too high for a linear
gain to reach -16 LUFS, so loudnorm runs its dynamic mode (the one that holds 3 s of audio and flushes
them at the end), and the clicks tell where the source's seconds landed in the published audio.
"""

from __future__ import annotations

import array
import statistics
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import av
import pytest

from catalog.models import Asset, AssetState, Job, JobState
from tests.media import PlayedStream, ffmpeg_exe, play_every_rendition, play_every_stream
from tests.transcoder.harness import ListQueue, assert_succeeded, pipeline_context, published_prefix, submit
from transcoder.pipeline import PipelineContext, run_job
from transcoder.split.splitter import SplitAndStitch

pytestmark = pytest.mark.ffmpeg

RATE = 24  # frames per second of the source
SECONDS = 6
# A quiet 440 Hz tone (about -30 LUFS) with a 2 ms full-scale click at every whole second of the source.
SPIKY_TONE = "0.02*sin(2*PI*440*t)+0.9*lt(mod(t\\,1)\\,0.002)"
FRAME = 1 / RATE
# AAC codes 1024-sample frames: the encoder's last one ends up to one frame (21.3 ms at 48 kHz) past the
# track's end, and ffmpeg's HLS muxer may cut one more into the last segment.
AAC_SLACK = 2 * 1024 / 48000
# How far a click may land from where the source has it: AAC smears a 2 ms click over part of its frame.
CLICK_TOLERANCE = 0.01
# The published audio plays one AAC frame late, every asset alike (not a cut's doing): ffmpeg's HLS muxer
# writes the fMP4 edit list with media_time 0, which leaves the AAC encoder's 1024 priming samples in.
AAC_PRIMING = 1024 / 48000
# Timestamps that must meet: framecrc prints them in the stream's time base (1/48000, 1/12288).
EXACT = 0.001


@pytest.fixture(scope="module")
def spiky(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of a 320x180 test pattern at 24 fps (a keyframe every 0.5 s) over the clicking tone; H.264/AAC."""
    path = tmp_path_factory.mktemp("cut") / "spiky.mp4"
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    argv += ["-f", "lavfi", "-i", f"testsrc2=size=320x180:rate={RATE}:duration={SECONDS}"]
    argv += ["-f", "lavfi", "-i", f"aevalsrc=exprs={SPIKY_TONE}:s=48000:d={SECONDS}"]
    argv += ["-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    argv += ["-g", str(RATE // 2), "-c:a", "aac", "-b:a", "96k", str(path)]
    subprocess.run(argv, check=True)
    return path


# Each cut: ffmpeg's input arguments before the copy (the first input's video, the last input's audio).
CUTS: dict[str, list[str]] = {
    # Both streams cut at 4.05 s on their own packets: video to 4.083 s, audio to 4.053 s, neither on
    # loudnorm's 100 ms grid (the Big Buck Bunny trailer's `-t 10 -c copy` cut failed validation so).
    "t-4.05": ["-t", "4.05", "-i", "{src}"],
    # The audio outlasts the video by 0.5 s: the last frame is held.
    "audio-outlasts-video": ["-t", "3.5", "-i", "{src}", "-t", "4", "-i", "{src}"],
    # The video outlasts the audio by 0.55 s: the audio is padded with silence.
    "video-outlasts-audio": ["-t", "4", "-i", "{src}", "-t", "3.45", "-i", "{src}"],
    # Cut from 1.7 s: copied from the keyframe at 1.5 s, an edit list starts the file at 1.7 s.
    "ss-1.7": ["-ss", "1.7", "-i", "{src}"],
    # The audio starts 0.5 s after the video (an edit list with an empty edit): silence before it.
    "audio-starts-late": ["-t", "4", "-i", "{src}", "-itsoffset", "0.5", "-t", "3.5", "-i", "{src}"],
}


def cut(spiky: Path, name: str, dest: Path) -> Path:
    args = [a.replace("{src}", str(spiky)) for a in CUTS[name]]
    inputs = args.count("-i")
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args]
    argv += ["-map", "0:v", "-map", f"{inputs - 1}:a", "-c", "copy", str(dest)]
    subprocess.run(argv, check=True)
    return dest


@dataclass(frozen=True)
class Played:
    """The source as ffmpeg plays it: where it starts, where its longest stream ends, where its clicks are."""

    start: float
    end: float
    clicks: list[float]

    @property
    def seconds(self) -> float:
        return self.end - self.start


def clicks(media: Path) -> list[float]:
    """Where the full-scale clicks of the first audio stream start, in seconds of its decoded timeline."""
    level, at = array.array("f"), array.array("d")
    with av.open(str(media)) as container:
        for frame in container.decode(audio=0):
            assert frame.format.name == "fltp"  # AAC decodes to planar float: channel 0 is plane 0
            level.frombytes(bytes(frame.planes[0])[: frame.samples * 4])
            at.extend(float(frame.time) + i / frame.sample_rate for i in range(frame.samples))
    # Well above the tone, below every click (loudnorm's dynamic mode starts low: the click at 0 s comes
    # out at a quarter of the others, still 3.5 times the tone's peak).
    threshold = 3 * statistics.median(abs(x) for x in level)
    loud = [t for x, t in zip(level, at, strict=True) if abs(x) > threshold]
    # A click is a run of loud samples; the next one is a second later.
    return [round(t, 4) for i, t in enumerate(loud) if i == 0 or t - loud[i - 1] > 0.1]


def played_source(source: Path) -> Played:
    streams = play_every_stream(str(source))
    start = min(s.start for s in streams)
    return Played(start, max(s.end for s in streams), [t - start for t in clicks(source)])


def check_published(ctx: PipelineContext, asset_id: str, source: Played) -> None:
    """Every rendition decodes whole, video and audio from 0 to the source's end without a hole, the
    clicks where the source has them."""
    media = ctx.settings.storage.root / "media" / published_prefix(ctx, asset_id)
    played = play_every_rendition(str(media / "master.m3u8"))
    streams: list[tuple[str, PlayedStream]] = [(uri, s) for uri, ss in played.items() for s in ss]
    assert {s.kind for _, s in streams} == {"video", "audio"}, played
    for uri, stream in streams:
        span = stream.end - stream.start
        assert stream.start == pytest.approx(0, abs=EXACT), (uri, stream)
        assert stream.decoded == pytest.approx(span, abs=EXACT), f"{uri}: a hole in its {stream.kind}: {stream}"
        if stream.kind == "video":
            assert span == pytest.approx(source.seconds, abs=FRAME + EXACT), (uri, stream, source)
        else:
            assert source.seconds - EXACT <= span <= source.seconds + AAC_SLACK, (uri, stream, source)
    audio_uri = next(uri for uri, s in streams if s.kind == "audio")
    published = [round(t - AAC_PRIMING, 4) for t in clicks(Path(audio_uri))]
    assert len(published) == len(source.clicks), (published, source.clicks)
    assert published == pytest.approx(source.clicks, abs=CLICK_TOLERANCE), (published, source.clicks)


@pytest.mark.parametrize("name", list(CUTS))
def test_a_cut_source_becomes_whole_renditions_in_sync(name: str, spiky: Path, tmp_path: Path) -> None:
    source = cut(spiky, name, tmp_path / f"{name}.mp4")
    played = played_source(source)
    ctx = pipeline_context(tmp_path)
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)
    assert asset.duration == pytest.approx(played.seconds, abs=EXACT)
    check_published(ctx, asset_id, played)


@pytest.mark.parametrize("name", ["t-4.05", "video-outlasts-audio"])
def test_a_cut_source_split_into_parts_becomes_whole_renditions(name: str, spiky: Path, tmp_path: Path) -> None:
    """The same through split-and-stitch (2 s chunks and the whole part, which makes the audio)."""
    source = cut(spiky, name, tmp_path / f"{name}.mp4")
    played = played_source(source)
    queue = ListQueue()
    ctx = pipeline_context(tmp_path, split_enabled=True, split_min_duration_seconds=3.0, chunk_seconds=2.0)
    ctx = replace(ctx, splitter=SplitAndStitch(queue))
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    parts = queue.take("part")
    assert len(parts) >= 3, "the source was not split"  # two chunks or more, and the whole part
    assert ctx.splitter is not None
    for part_id in parts:
        assert ctx.splitter.run_part(ctx, part_id)
    assert queue.take("job") == [job_id]
    run_job(ctx, job_id)
    with ctx.catalog.session() as s:
        job, asset = s.get(Job, job_id), s.get(Asset, asset_id)
        assert job is not None and asset is not None
        assert job.state == JobState.SUCCEEDED, f"{job.error_reason}: {job.error}"
        assert asset.state == AssetState.READY
    check_published(ctx, asset_id, played)
