"""Measured-looking tracks for manifest tests: a three-rung 30 fps ladder and one AAC track."""

from __future__ import annotations

from manifests.model import Segment, Track

VIDEO_SEGMENT_SECONDS = 2.0
AUDIO_SEGMENT_SECONDS = 2.005333  # 96256 / 48000: AAC frames never land on 2 s exactly


def video(
    name: str = "360p",
    *,
    height: int = 360,
    bytes_per_second: int = 100_000,
    count: int = 5,
    durations: tuple[float, ...] | None = None,
    idr: bool = True,
) -> Track:
    durations = durations or (VIDEO_SEGMENT_SECONDS,) * (count - 1) + (1.5,)
    segments, start = [], 0.0
    for i, duration in enumerate(durations):
        # alternate sizes so peak and average differ, as a real encode does
        size = int(bytes_per_second * duration * (1.3 if i % 2 else 0.8))
        segments.append(
            Segment(
                uri=f"seg_{i + 1:05d}.m4s",
                duration=duration,
                size=size,
                start=start,
                starts_with_idr=idr,
                iframe_range=(0, size // 5),
            )
        )
        start += duration
    return Track(
        name=name,
        kind="video",
        codecs="avc1.64001f" if height > 360 else "avc1.64001e",
        init_uri="init.mp4",
        segments=tuple(segments),
        timescale=15360,
        width=height * 16 // 9,
        height=height,
        frame_rate=30.0,
    )


def audio(name: str = "audio", *, count: int = 5, language: str = "en") -> Track:
    durations = (AUDIO_SEGMENT_SECONDS,) * (count - 1) + (1.48,)
    segments, start = [], 0.0
    for i, duration in enumerate(durations):
        segments.append(
            Segment(uri=f"seg_{i + 1:05d}.m4s", duration=duration, size=int(16_000 * duration), start=start)
        )
        start += duration
    return Track(
        name=name,
        kind="audio",
        codecs="mp4a.40.2",
        init_uri="init.mp4",
        segments=tuple(segments),
        timescale=48000,
        language=language,
        channels=2,
        sample_rate=48000,
    )


def ladder() -> tuple[list[Track], list[Track]]:
    return (
        [
            video("720p", height=720, bytes_per_second=350_000),
            video("360p", height=360, bytes_per_second=100_000),
            video("540p", height=540, bytes_per_second=200_000),
        ],
        [audio()],
    )
