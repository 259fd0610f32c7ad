"""The speech-captions job: once an asset is ready, its audio is transcribed and published as a
"(generated)" track. A Celery task on the light queue (transcoder.worker.tasks) calls `generate`.

Idempotent: an asset that has a generated track already, is not ready, has no audio or turned generation
off is left alone. The audio is decoded from the original to 16 kHz mono (what Whisper reads) by ffmpeg in
its sandbox; the recognition itself runs in this process (CTranslate2, CPU).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from captions import library, speech
from captions.errors import CaptionError
from captions.publish import MediaBucket, republish
from captions.tracks import GENERATED, canonical_language, track_options
from catalog.captions import CaptionSettings, CaptionTrack
from catalog.models import Asset, AssetState, Job
from catalog.session import Catalog
from transcoder.encode.runner import run_ffmpeg
from transcoder.encode.source import original_for_ffmpeg
from transcoder.errors import EncodeFailed

if TYPE_CHECKING:
    from transcoder.pipeline import PipelineContext

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


def asset_of(catalog: Catalog, job_id: str) -> str | None:
    """The asset a job made ready, or None (the job failed, was superseded or the asset is gone)."""
    with catalog.session() as session:
        job = session.get(Job, job_id)
        asset = session.get(Asset, job.asset_id) if job is not None else None
        return asset.id if asset is not None and asset.state == AssetState.READY else None


def wants_captions(ctx: PipelineContext, asset_id: str) -> tuple[str, int] | None:
    """(the asset's original, its audio stream) when a generated track should be made for it now, else None."""
    with ctx.catalog.session() as session:
        asset = session.get(Asset, asset_id)
        if asset is None or asset.state != AssetState.READY or not asset.staging_key:
            return None
        audio = (asset.probe or {}).get("audio")
        if not isinstance(audio, dict):
            return None
        options = session.get(CaptionSettings, asset_id)
        if options is not None and not options.generate:
            return None
        done = session.scalars(
            select(CaptionTrack.id).where(CaptionTrack.asset_id == asset_id, CaptionTrack.source == GENERATED)
        ).first()
        return None if done is not None else (asset.staging_key, int(audio.get("index", 0)))


def audio_argv(source: str, stream: int, dest: Path, ffmpeg: str) -> list[str]:
    """Audio stream `stream` (the one the ladder kept) as 16 kHz mono 16-bit WAV."""
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-y", "-i", source, "-map", f"0:a:{stream}", "-vn"]
    return argv + ["-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le", str(dest)]


def generate(ctx: PipelineContext, asset_id: str, recognizer: Callable[[], speech.Recognizer]) -> int:
    """Transcribe the asset's audio and publish it as its generated track; the number of cues (0: none made)."""
    wanted = wants_captions(ctx, asset_id)
    if wanted is None:
        return 0
    staging_key, stream = wanted
    work = ctx.settings.work_dir / f"speech-{asset_id}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        source, _ = original_for_ffmpeg(ctx.store, ctx.staging, staging_key, work, stream=False, deadline_seconds=3600)
        wav = work / "speech.wav"
        run_ffmpeg(audio_argv(source, stream, wav, ctx.settings.ffmpeg_path()), timeout=1800)
        transcript = recognizer().transcribe(wav)
    except EncodeFailed as exc:
        log.warning("asset %s: no audio for speech captions: %s", asset_id, exc.message)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not transcript.cues:
        log.info("asset %s: no speech recognised", asset_id)
        return 0
    try:
        language = canonical_language(transcript.language)
        options = track_options(language, label=language, kind="subtitles")
        library.save(ctx.catalog, asset_id, language, GENERATED, options, transcript.cues)
    except (CaptionError, library.AssetGone, library.AssetFailed) as exc:
        log.warning("asset %s: generated captions not kept: %s", asset_id, exc)
        return 0
    republish(ctx.catalog, MediaBucket(ctx.store, ctx.media), asset_id)
    return len(transcript.cues)
