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
