"""Chunk planning for split-and-stitch: boundaries on the segment grid, a short tail folded in."""

from __future__ import annotations

import pytest

from media.colour import ColourInfo
from transcoder.encode.ladder import Ladder, plan_ladder
from transcoder.split.chunks import Chunk, PartSpec, chunk_length, part_prefix, plan_chunks, plan_parts, wants_split


@pytest.mark.parametrize(
    ("chunk_seconds", "segment_seconds", "expected"),
    [
        (60, 4, 60),  # already a whole number of segments
        (10, 4, 12),  # rounded up to the next segment boundary
        (1, 4, 4),  # at least one segment
        (6.0, 2.0, 6.0),
        (20.0000001, 2.0, 20.0),  # float noise does not add a segment
        (29.97, 6, 30),
    ],
)
def test_chunk_length_is_a_whole_number_of_segments(
    chunk_seconds: float, segment_seconds: float, expected: float
) -> None:
    assert chunk_length(chunk_seconds, segment_seconds) == expected


@pytest.mark.parametrize(
    ("duration", "chunk_seconds", "segment_seconds", "expected"),
    [
        # (start, duration) per chunk; None = to the end of the source
        (60.0, 10, 2, [(0, 10), (10, 10), (20, 10), (30, 10), (40, 10), (50, None)]),
        (61.0, 10, 2, [(0, 10), (10, 10), (20, 10), (30, 10), (40, 10), (50, None)]),  # 11 s tail
        (64.9, 10, 2, [(0, 10), (10, 10), (20, 10), (30, 10), (40, 10), (50, None)]),  # 4.9 s tail folded in
        (65.0, 10, 2, [(0, 10), (10, 10), (20, 10), (30, 10), (40, 10), (50, 10), (60, None)]),
        (20.0, 6, 2, [(0, 6), (6, 6), (12, None)]),
        (100.0, 30, 4, [(0, 32), (32, 32), (64, None)]),  # chunk rounded to 32 s: 8 segments of 4 s
        (5.0, 60, 4, [(0, None)]),  # shorter than a chunk: one chunk
        (0.5, 60, 4, [(0, None)]),
    ],
)
def test_chunks_start_on_the_segment_grid(
    duration: float, chunk_seconds: float, segment_seconds: float, expected: list[tuple[float, float | None]]
) -> None:
    chunks = plan_chunks(duration, chunk_seconds, segment_seconds)
    assert [(c.start, c.duration) for c in chunks] == expected
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.start % segment_seconds == 0
    # Contiguous: each chunk starts where the one before ends.
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.duration is not None and before.start + before.duration == after.start


def test_plan_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        plan_chunks(0, 10, 2)
    with pytest.raises(ValueError):
        chunk_length(10, 0)


@pytest.mark.parametrize(
    ("duration", "enabled", "min_duration", "expected"),
    [
        (600, True, 300, True),
        (600, False, 300, False),  # switched off by configuration
        (200, True, 300, False),  # not long enough
        (100, True, 0, True),
        (80, True, 0, False),  # one chunk: the 20 s tail is folded into the first, nothing to split
    ],
)
def test_wants_split(duration: float, enabled: bool, min_duration: float, expected: bool) -> None:
    got = wants_split(duration, enabled=enabled, min_duration=min_duration, chunk_seconds=60, segment_seconds=4)
    assert got is expected


def parts_of_150s(ladder: Ladder) -> tuple[PartSpec, ...]:
    return plan_parts(
        ladder,
        duration=150,
        display_size=(1280, 720),
        chunk_seconds=60,
        segment_seconds=4,
        interlaced=False,
        preset="veryfast",
    )


def test_parts_are_chunks_then_the_whole_part_and_survive_json() -> None:
    ladder = plan_ladder(1280, 720, 30.0, has_audio=True)
    parts = parts_of_150s(ladder)
    assert [p.name for p in parts] == ["chunk-0000", "chunk-0001", "chunk-0002", "whole"]
    assert [p.media_seconds for p in parts] == [60, 60, 30, 150]
    # Video chunks carry no audio, the whole part no video rung: audio is encoded once, over the whole source.
    assert parts[0].encoded_ladder().audio_bitrate is None and parts[0].encoded_ladder().rungs == ladder.rungs
    assert parts[-1].encoded_ladder().rungs == () and parts[-1].encoded_ladder().audio_bitrate == 128_000
    for part in parts:
        assert PartSpec.from_json(part.as_json()) == part
    # An HDR source's colour reaches every chunk's encode (each is tone-mapped alike).
    hdr = ColourInfo("bt2020", "smpte2084", "bt2020nc", "tv", 10, dolby_vision=True)
    coloured = plan_parts(
        ladder, duration=150, display_size=(1280, 720), chunk_seconds=60, segment_seconds=4,
        interlaced=False, preset="veryfast", colour=hdr,
    )  # fmt: skip
    assert all(PartSpec.from_json(part.as_json()).colour == hdr for part in coloured)
    # The chosen audio stream of a many-track source reaches the whole part's encode.
    tracks = parts_of_150s(plan_ladder(1280, 720, 30.0, has_audio=True, audio_stream=2))
    assert PartSpec.from_json(tracks[-1].as_json()).encoded_ladder().audio_stream == 2
    # Without audio the whole part still makes the previews.
    silent = plan_ladder(1280, 720, 30.0, has_audio=False)
    whole = parts_of_150s(silent)[-1]
    assert whole.name == "whole" and whole.encoded_ladder() == Ladder((), 30.0, None)


def test_part_prefix_is_deterministic_per_attempt() -> None:
    assert part_prefix("job1", Chunk(3, 12.0, 4.0).name, 1) == "parts/job1/chunk-0003/a1/"
    assert part_prefix("job1", "whole", 2) == "parts/job1/whole/a2/"
