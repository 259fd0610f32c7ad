"""Split-and-stitch planning: which time ranges of a long source are encoded as separate parts. Pure.

A chunk boundary is a segment boundary: chunks start on multiples of the segment duration, the
grid on which every rung forces its keyframes, so each chunk's first frame is an IDR the player
would have found there anyway and the joined rungs keep one continuous keyframe grid. Audio is not
chunked: one "whole" part encodes it over the whole source, so no AAC priming or frame padding lands
at a join (that is where split audio clicks). The same part makes the thumbnails and storyboard,
which also need the whole source, so that nothing but the join is left for after the chunks.

A part's spec travels in its job row (JSON), so a worker on another machine encodes exactly what
the parent planned, with the same x264 parameters for every chunk of a rung.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from media.colour import ColourInfo
from transcoder.encode.audio import AudioRendition
from transcoder.encode.ladder import Ladder, Rung

WHOLE_PART = "whole"  # the audio and the previews, over the whole source
# Staging prefix of the parts of one job: parts/<parent job id>/<part name>/a<attempt>/<rendition>/<file>.
PARTS_PREFIX = "parts"
# A last chunk shorter than this fraction of a chunk joins the one before it: a few seconds of
# video are not worth a worker's source fetch and process start.
SHORT_TAIL_FRACTION = 0.5
# Float slack when comparing second counts derived from probe durations.
_EPSILON = 1e-6


@dataclass(frozen=True)
class Chunk:
    index: int  # 0-based, in time order
    start: float  # seconds from the source start; a multiple of the segment duration
    duration: float | None  # seconds; None for the last chunk (to the end of the source)

    @property
    def name(self) -> str:
        return f"chunk-{self.index:04d}"


def chunk_length(chunk_seconds: float, segment_seconds: float) -> float:
    """`chunk_seconds` rounded up to a whole number of segments (at least one)."""
    if segment_seconds <= 0:
        raise ValueError(f"segment duration must be positive, not {segment_seconds}")
    segments = max(1, math.ceil(chunk_seconds / segment_seconds - _EPSILON))
    return segments * segment_seconds


def plan_chunks(duration: float, chunk_seconds: float, segment_seconds: float) -> tuple[Chunk, ...]:
    """Cut [0, duration) into chunks on the segment grid; the last one runs to the end."""
    if duration <= 0:
        raise ValueError(f"duration must be positive, not {duration}")
    length = chunk_length(chunk_seconds, segment_seconds)
    count = max(1, math.ceil(duration / length - _EPSILON))
    tail = duration - (count - 1) * length
    if count > 1 and tail < length * SHORT_TAIL_FRACTION:
        count -= 1
    return tuple(Chunk(index=i, start=i * length, duration=None if i == count - 1 else length) for i in range(count))


def wants_split(
    duration: float, *, enabled: bool, min_duration: float, chunk_seconds: float, segment_seconds: float
) -> bool:
    """True when split-and-stitch is on, the source is long enough and yields at least two chunks."""
    if not enabled or duration < min_duration:
        return False
    return len(plan_chunks(duration, chunk_seconds, segment_seconds)) >= 2


@dataclass(frozen=True)
class PartSpec:
    """What one part encodes: a chunk of every video rung, or (chunk None) the audio and previews."""

    ladder: Ladder
    segment_seconds: float
    interlaced: bool
    preset: str
    source_duration: float
    chunk: Chunk | None = None
    display_size: tuple[int, int] = (0, 0)  # of the source (previews are sized from it)
    colour: ColourInfo | None = None  # of the source: each chunk is tone-mapped alike (encode.colour)
    av1_preset: int = 10  # SVT-AV1 preset of the ladder's AV1 rungs (TranscoderSettings.av1_preset)

    @property
    def name(self) -> str:
        return self.chunk.name if self.chunk is not None else WHOLE_PART

    @property
    def media_seconds(self) -> float:
        """Seconds of source this part encodes (for progress and its time limit)."""
        if self.chunk is None:
            return self.source_duration
        if self.chunk.duration is not None:
            return self.chunk.duration
        return max(0.0, self.source_duration - self.chunk.start)

    def encoded_ladder(self) -> Ladder:
        """The ladder this part's ffmpeg run writes: video rungs without audio, or the audio alone."""
        if self.chunk is None:
            return Ladder(
                (), self.ladder.frame_rate, self.ladder.audio_bitrate, self.ladder.audio_stream, self.ladder.audio
            )
        return Ladder(self.ladder.rungs, self.ladder.frame_rate, None)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartSpec:
        ladder = data["ladder"]
        chunk = data.get("chunk")
        return cls(
            ladder=Ladder(
                rungs=tuple(Rung(**r) for r in ladder["rungs"]),
                frame_rate=ladder["frame_rate"],
                audio_bitrate=ladder["audio_bitrate"],
                audio_stream=ladder.get("audio_stream", 0),
                audio=tuple(AudioRendition.from_json(a) for a in ladder.get("audio", ())),
            ),
            segment_seconds=data["segment_seconds"],
            interlaced=data["interlaced"],
            preset=data["preset"],
            source_duration=data["source_duration"],
            chunk=Chunk(**chunk) if chunk is not None else None,
            display_size=(int(data["display_size"][0]), int(data["display_size"][1])),
            colour=ColourInfo(**data["colour"]) if data.get("colour") else None,
            av1_preset=int(data.get("av1_preset", 10)),  # parts recorded before AV1 rungs existed
        )


def plan_parts(
    ladder: Ladder,
    *,
    duration: float,
    display_size: tuple[int, int],
    chunk_seconds: float,
    segment_seconds: float,
    interlaced: bool,
    preset: str,
    colour: ColourInfo | None = None,
    av1_preset: int = 10,
) -> tuple[PartSpec, ...]:
    """Every part of a split job: the video chunks in time order, then the whole-source part."""
    chunks = [*plan_chunks(duration, chunk_seconds, segment_seconds), None]
    return tuple(
        PartSpec(ladder, segment_seconds, interlaced, preset, duration, chunk, display_size, colour, av1_preset)
        for chunk in chunks
    )


def part_prefix(parent_job_id: str, part_name: str, attempt: int) -> str:
    """Deterministic staging prefix of one attempt at a part: the attempt number (the part row's
    `attempts`, its fencing token) keeps two attempts' files apart, so a stale attempt that wakes up
    can never overwrite what its successor uploaded, and the join reads exactly the attempt the
    part row says succeeded."""
    return f"{PARTS_PREFIX}/{parent_job_id}/{part_name}/a{attempt}/"
