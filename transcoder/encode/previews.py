"""Still previews of an asset: thumbnails at fixed points and a storyboard sprite with its WebVTT map.

Pure: sizes, times and the WebVTT text. The storyboard's frames come from an extra branch of the one
ladder encode (commands.encode_ladder), so they cost no second decode; the thumbnails from one seek
each into the source afterwards (commands.finish_previews), which also tiles the sprite.
Players (hls.js / video.js / Shaka thumbnail plugins) read `storyboard.vtt`, whose cues point into
the sprite with media fragments: `storyboard.jpg#xywh=x,y,w,h`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from transcoder.encode.ladder import even

STORYBOARD_IMAGE = "storyboard.jpg"
STORYBOARD_VTT = "storyboard.vtt"
THUMBNAIL_DIR = "thumbnails"
THUMBNAIL_PATTERN = "%02d.jpg"  # numbered from 1
# Scratch: the storyboard's tiles, one JPEG each, before they are tiled into the sprite.
STORYBOARD_TILES_DIR = "storyboard-tiles"
TILE_PATTERN = "%05d.jpg"  # ffmpeg image2 numbering, from 1
# Thumbnails at fixed fractions of the duration: away from black starts and end credits.
THUMBNAIL_FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)
THUMBNAIL_BOX = 640
TILE_BOX = 160
TILE_COLUMNS = 10
# 10x10 tiles of 160 px keep the sprite around 1600x900 (one fetch, ~150 kB) for any duration.
MAX_TILES = 100


@dataclass(frozen=True)
class Storyboard:
    interval: float  # seconds of video each tile stands for
    count: int  # tiles in the sprite
    columns: int
    rows: int
    tile_width: int
    tile_height: int

    @property
    def width(self) -> int:
        return self.columns * self.tile_width

    @property
    def height(self) -> int:
        return self.rows * self.tile_height


@dataclass(frozen=True)
class Previews:
    storyboard: Storyboard
    thumbnail_times: tuple[float, ...]
    thumbnail_width: int
    thumbnail_height: int


def fit(display_width: int, display_height: int, box: int) -> tuple[int, int]:
    """Even size with the display aspect whose long side is `box` (never above the source)."""
    scale = min(1.0, box / max(display_width, display_height))
    return even(display_width * scale), even(display_height * scale)


def plan_storyboard(duration: float, display_width: int, display_height: int) -> Storyboard:
    # Whole seconds per tile: cue times stay exact in WebVTT's millisecond notation.
    interval = float(max(1, math.ceil(duration / MAX_TILES)))
    count = max(1, math.ceil(duration / interval))
    columns = min(TILE_COLUMNS, count)
    tile_width, tile_height = fit(display_width, display_height, TILE_BOX)
    return Storyboard(interval, count, columns, math.ceil(count / columns), tile_width, tile_height)


def still_time(at: float, last_frame: float | None) -> float:
    """`at` on the millisecond, but never past the start of the last frame when it is known: a
    frame-accurate seek beyond it finds no frame, and ffmpeg fails the whole run."""
    if last_frame is not None:
        at = min(at, last_frame)
    return math.floor(round(at * 1000, 6)) / 1000


def poster_time(duration: float, last_frame: float | None = None) -> float:
    """One second in, or the middle of a shorter source."""
    return still_time(min(1.0, duration / 2), last_frame)


def plan_previews(
    duration: float, display_width: int, display_height: int, last_frame: float | None = None
) -> Previews:
    """Thumbnails at fixed fractions of the duration, each on a frame: in a 0.1 s clip the one at 90%
    would fall after its third and last frame, and over a song with a cover image after the only one.
    Times that coincide once kept on a frame are taken once: such a source has fewer thumbnails."""
    times = tuple(dict.fromkeys(still_time(duration * f, last_frame) for f in THUMBNAIL_FRACTIONS))
    width, height = fit(display_width, display_height, THUMBNAIL_BOX)
    return Previews(plan_storyboard(duration, display_width, display_height), times, width, height)


def render_vtt(storyboard: Storyboard, duration: float, image_uri: str = STORYBOARD_IMAGE) -> str:
    """WebVTT whose cue i covers tile i's interval and names its rectangle in the sprite."""
    lines = ["WEBVTT", ""]
    for i in range(storyboard.count):
        start = i * storyboard.interval
        end = min((i + 1) * storyboard.interval, duration)
        if end <= start:
            break
        x = (i % storyboard.columns) * storyboard.tile_width
        y = (i // storyboard.columns) * storyboard.tile_height
        lines += [
            f"{_timestamp(start)} --> {_timestamp(end)}",
            f"{image_uri}#xywh={x},{y},{storyboard.tile_width},{storyboard.tile_height}",
            "",
        ]
    return "\n".join(lines)


def _timestamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"
