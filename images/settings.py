"""Settings of images made on demand, part of the origin's (env VODSTACK_ORIGIN_IMAGES__*)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ImageSettings(BaseModel):
    # Images made at once by one origin; past it, 503 with Retry-After (each costs one ffmpeg run).
    max_concurrent: int = Field(default=2, ge=1)
    # Seconds in that Retry-After.
    retry_after: int = Field(default=1, ge=1)
    # Limits of each ffmpeg run (media.sandbox): wall clock, CPU seconds, address space.
    wall_seconds: float = 20.0
    cpu_seconds: float = 20.0
    memory_mb: int = 1536
    # Largest image made, bytes (a bound on what one request may make the origin hold).
    max_bytes: int = 8 * 2**20
    # ffmpeg binary; empty: the one shipped by imageio-ffmpeg.
    ffmpeg: str = ""

    def ffmpeg_path(self) -> str:
        if self.ffmpeg:
            return self.ffmpeg
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
