"""Settings of the probe, for the ingest API (on completion) and the workers alike."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProbeSettings(BaseSettings):
    """Limits of the probe, which reads untrusted uploads in a sandboxed child (media.probe_sandbox),
    for the ingest API (on completion) and the workers alike."""

    model_config = SettingsConfigDict(env_prefix="VODSTACK_PROBE_", extra="ignore")

    # Wall-clock limit: a probe still running this long after its start is killed, the upload fails.
    wall_seconds: float = 60.0
    # CPU time (RLIMIT_CPU) and address space (RLIMIT_AS, MiB) of the probe process.
    cpu_seconds: float = 60.0
    memory_mb: int = 2048
    # The probe's command line, the source then appended; empty: this Python running
    # `-m media.probe_cli`. For tests and for operators who wrap it (nsjail, bwrap, firejail).
    command: list[str] = Field(default_factory=list)


class PosterSettings(BaseSettings):
    """Creator posters (media.poster): what an uploaded image may be, the variants made of it, and the
    limits of the sandboxed child that decodes it (media.poster_sandbox)."""

    model_config = SettingsConfigDict(env_prefix="VODSTACK_POSTER_", extra="ignore")

    # Largest image body accepted by PUT /assets/{id}/poster (bytes); larger: 413 before decoding.
    max_bytes: int = 25 * 2**20
    # Largest picture (width x height, as the file's header says) decoded; larger: refused as a
    # decompression bomb before any pixel is decoded. 50 MP: an 8K-wide photo and more.
    max_pixels: int = 50_000_000
    # Widths of the variants (never wider than the image itself: no upscaling).
    widths: list[int] = Field(default_factory=lambda: [320, 640, 1280])
    # The child that decodes and encodes: wall clock, CPU time, address space (MiB).
    wall_seconds: float = 60.0
    cpu_seconds: float = 60.0
    memory_mb: int = 1024
    # Children one ingest process runs at once (each up to memory_mb); more requests wait their turn.
    concurrency: int = 2
    # A replaced or deleted poster's objects stay this long (pages and API answers read a moment
    # before still reference them), then the ingest's cleanup deletes them.
    retire_grace_seconds: float = 86_400.0
