"""Loudness normalisation, both ways, through a real job: a linear gain (the `volume` filter) where one gain
reaches the target within the true-peak ceiling, loudnorm's dynamic mode where it does not; each published
track measured by ffmpeg's ebur128, and compared with what the asset records.

The source's two tracks: a steady 440 Hz tone at -27 dBFS (one gain of about +15 dB brings it to the
target, its true peak still far under the ceiling), and the same tone at 0.15 of full scale with a 5 ms
burst at 0.95 every second (a drum hit, say): the gain it needs (about +3.6 dB) would lift the bursts
1.5 dB over the ceiling, so loudnorm's dynamic mode has to run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.media import ffmpeg_exe, loudness_and_peak
from tests.transcoder.harness import assert_succeeded, pipeline_context, published_prefix, submit
from transcoder.encode.loudness import Loudness, LoudnessTarget, linear_gain
from transcoder.pipeline import run_job

pytestmark = pytest.mark.ffmpeg

SECONDS = 5.0
TARGET = LoudnessTarget()  # the workers' default: -16 LUFS, -1 dBTP
STEADY = "sine=frequency=440:sample_rate=48000:duration={s},volume=-9dB"  # sine's amplitude is 1/8: -27 dBFS
BURSTS = "aevalsrc='if(lt(mod(t\\,1)\\,0.005)\\,0.95\\,0.15)*sin(2*PI*440*t)':s=48000:d={s}"


def _source(path: Path) -> Path:
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    argv += ["-f", "lavfi", "-i", f"testsrc2=size=160x90:rate=25:duration={SECONDS}"]
    argv += ["-f", "lavfi", "-i", STEADY.format(s=SECONDS), "-f", "lavfi", "-i", BURSTS.format(s=SECONDS)]
    argv += ["-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "libx264", "-preset", "ultrafast"]
    argv += ["-c:a", "pcm_s16le", "-disposition:a:0", "default", "-disposition:a:1", "0"]
    subprocess.run([*argv, str(path)], check=True)
    return path


def test_every_track_reaches_the_target_by_gain_or_by_loudnorm_and_the_record_matches(tmp_path: Path) -> None:
    ctx = pipeline_context(tmp_path)
    asset_id, job_id = submit(ctx, _source(tmp_path / "source.mkv"))
    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)
    media = ctx.settings.storage.root / "media" / published_prefix(ctx, asset_id)
    records = {t["name"]: t for t in asset.audio_tracks or []}
    assert set(records) == {"audio", "audio-1"} and all(t["normalised"] for t in records.values())

    # The source takes both ways: the steady tone a linear gain, the bursts loudnorm's dynamic mode.
    def source_level(name: str) -> Loudness:
        return Loudness(**records[name]["input_loudness"], threshold=None)

    assert linear_gain(source_level("audio"), TARGET) > 10.0  # type: ignore[operator]
    bursts = source_level("audio-1")
    assert linear_gain(bursts, TARGET) is None
    assert bursts.true_peak + TARGET.integrated - bursts.integrated > TARGET.true_peak + 1  # type: ignore[operator]

    for name, record in records.items():
        integrated, true_peak = loudness_and_peak(media / name / "index.m3u8")
        assert integrated == pytest.approx(TARGET.integrated, abs=1.0), name
        # The ceiling, with the AAC encode's overshoot of a few tenths of a dB (loudnorm's own limit is
        # on what it outputs, before the encode).
        assert true_peak <= TARGET.true_peak + 0.5, name
        # What the asset records is what a player gets (computed for the gain, measured after loudnorm).
        assert record["output_loudness"]["integrated"] == pytest.approx(integrated, abs=0.5), name
        # A gain track's true peak is computed before the encode; AAC's overshoot of a pure tone reads
        # 0.4-0.6 dB above it after decoding (the ceiling check above allows the same for this reason).
        assert record["output_loudness"]["true_peak"] == pytest.approx(true_peak, abs=1.0), name
