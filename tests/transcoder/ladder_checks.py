"""What every published ladder must satisfy, read back from the media bucket as a player sees it.

IDR at every segment start on one grid shared by all rungs, the source's display aspect ratio,
no upscaling, audio and video timelines that start together and end together without gaps, and
ffmpeg as the player decoding the whole of it.
"""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from tests.media import assert_plays_whole
from tests.transcoder.harness import PublishedTrack, published_prefix, published_tracks
from transcoder.pipeline import PipelineContext

# One tick of slack between a segment's end and the next one's start, in seconds.
CONTIGUOUS = 0.002


def check_published_ladder(
    ctx: PipelineContext,
    asset_id: str,
    *,
    source_seconds: float,
    source_size: tuple[int, int],
    segment_seconds: float,
) -> tuple[list[PublishedTrack], list[PublishedTrack]]:
    videos, audios = published_tracks(ctx, asset_id)
    media_root = ctx.settings.storage.root / "media" / published_prefix(ctx, asset_id)
    assert len(videos) >= 2, [v.name for v in videos]
    source_w, source_h = source_size
    for video in videos:
        assert all(s.starts_with_idr for s in video.segments), f"{video.name}: a segment does not start with an IDR"
        # One grid: segment k starts at k * segment_seconds in every rung.
        assert video.starts == [round(k * segment_seconds, 3) for k in range(len(video.segments))], video.starts
        _assert_contiguous(video)
        width, height = video.init.width or 0, video.init.height or 0
        assert width <= source_w and height <= source_h, f"{video.name} upscaled to {width}x{height}"
        assert width / height == pytest.approx(source_w / source_h, rel=0.02), f"{video.name}: {width}x{height}"
        assert video.end == pytest.approx(source_seconds, abs=segment_seconds)
    assert all(v.starts == videos[0].starts for v in videos)
    for audio in audios:
        assert audio.segments[0].start == 0.0
        _assert_contiguous(audio)
        # In sync: both timelines start at 0 and end together (AAC frames are 21 ms at 48 kHz).
        assert audio.end == pytest.approx(videos[0].end, abs=0.1), (audio.end, videos[0].end)
        decoded = _decoded_audio_seconds(media_root / audio.name / "index.m3u8")
        assert decoded == pytest.approx(source_seconds, abs=0.1), decoded
    assert_plays_whole(str(media_root / "master.m3u8"), source_seconds, audio=bool(audios))
    return videos, audios


def _assert_contiguous(track: PublishedTrack) -> None:
    for before, after in zip(track.segments, track.segments[1:], strict=False):
        gap = after.start - (before.start + before.duration)
        assert abs(gap) <= CONTIGUOUS, f"{track.name}: {gap:+.4f} s between segments at {after.start:.3f}"


def _decoded_audio_seconds(playlist: Path) -> float:
    """Decode the whole audio rendition through its playlist (libavformat's HLS demuxer, via PyAV)."""
    with av.open(str(playlist)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / (stream.rate or 48000)
