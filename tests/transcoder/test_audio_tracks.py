"""Every audio track of a source, loudness normalised: real encodes of generated sources, played by ffmpeg.

A source with an English and a French track (different tones; the French one stops half-way) and an
English commentary; a 5.1 source; the same 5.1 source with normalisation turned off for its asset.
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import m3u8
import pytest

from catalog.models import Asset, AssetState, JobState
from tests.media import assert_plays_whole, ffmpeg_exe, integrated_loudness, make_clip, pitch
from tests.transcoder.harness import (
    assert_succeeded,
    job_outcome,
    pipeline_context,
    published_prefix,
    published_tracks,
    submit,
)
from transcoder.pipeline import run_job

pytestmark = pytest.mark.ffmpeg

SECONDS = 6.0
TARGET = -16.0
_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


def _languages(path: Path) -> Path:
    """6 s of video; English 440 Hz (quiet), French 1000 Hz (loud, only 3 s), English commentary 660 Hz."""
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    argv += ["-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=25:duration={SECONDS}"]
    argv += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS},volume=-24dB"]
    argv += ["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=3,volume=-3dB"]
    argv += ["-f", "lavfi", "-i", f"sine=frequency=660:sample_rate=48000:duration={SECONDS},volume=-12dB"]
    argv += ["-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:a"]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "96k"]
    argv += ["-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fre", "-metadata:s:a:2", "language=eng"]
    argv += ["-metadata:s:a:2", "title=Director's commentary"]
    argv += ["-disposition:a:0", "default", "-disposition:a:1", "0", "-disposition:a:2", "comment"]
    subprocess.run([*argv, str(path)], check=True)
    return path


def _media_dir(ctx: object, asset_id: str) -> Path:
    return ctx.settings.storage.root / "media" / published_prefix(ctx, asset_id)  # type: ignore[attr-defined]


def test_each_language_and_the_commentary_are_their_own_normalised_tracks(tmp_path: Path) -> None:
    ctx = pipeline_context(tmp_path)
    asset_id, job_id = submit(ctx, _languages(tmp_path / "languages.mp4"))
    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)
    media = _media_dir(ctx, asset_id)

    master = m3u8.load(str(media / "master.m3u8"))
    audio_media = [m for m in master.media if m.type == "AUDIO"]
    assert [(m.uri, m.language, m.name, m.default, m.autoselect) for m in audio_media] == [
        ("audio/index.m3u8", "en", "English", "YES", "YES"),
        ("audio-1/index.m3u8", "fr", "Français", "NO", "YES"),
        ("audio-2/index.m3u8", "en", "Director's commentary", "NO", "NO"),
    ]
    assert {m.group_id for m in audio_media} == {"audio"}
    assert master.playlists and all(p.stream_info.audio == "audio" for p in master.playlists)
    # Each rendition is its own tone: no track swapped for another.
    for uri, tone in zip([m.uri for m in audio_media], (440, 1000, 660), strict=True):
        assert pitch(media / uri, seconds=2.5) == pytest.approx(tone, rel=0.03), uri
    # Every rendition decodes whole, the French one padded to the video's length with silence.
    assert_plays_whole(str(media / "master.m3u8"), SECONDS, tolerance=0.05)
    _, audios = published_tracks(ctx, asset_id)
    assert len({len(a.segments) for a in audios}) == 1

    # Each track normalised to the target, whatever its level in the source (ffmpeg's ebur128 agrees).
    for m in audio_media:
        assert integrated_loudness(media / m.uri) == pytest.approx(TARGET, abs=1.0), m.uri
    records = {t["name"]: t for t in asset.audio_tracks or []}
    assert set(records) == {"audio", "audio-1", "audio-2"}
    assert [records[n]["role"] for n in ("audio", "audio-1", "audio-2")] == ["main", "main", "commentary"]
    assert all(t["normalised"] for t in records.values())
    assert records["audio"]["input_loudness"]["integrated"] < -30 < records["audio-1"]["input_loudness"]["integrated"]
    for record in records.values():
        assert record["output_loudness"]["integrated"] == pytest.approx(TARGET, abs=1.0)
        assert record["output_loudness"]["true_peak"] <= -1.0 + 0.5

    # DASH: one AdaptationSet per track, with its language, label and role.
    mpd = ET.parse(media / "manifest.mpd").getroot()
    sets = [a for a in mpd.iterfind("d:Period/d:AdaptationSet", _NS) if a.get("contentType") == "audio"]
    described = [
        (a.get("lang"), a.findtext("d:Label", namespaces=_NS), a.find("d:Role", _NS).get("value"))  # type: ignore[union-attr]
        for a in sets
    ]
    assert sorted(described) == [
        ("en", "Director's commentary", "commentary"),
        ("en", "English", "main"),
        ("fr", "Français", "main"),
    ]


def test_a_5_1_source_gets_a_stereo_and_a_multichannel_group(tmp_path: Path) -> None:
    ctx = pipeline_context(tmp_path)
    asset_id, job_id = submit(ctx, make_clip(tmp_path / "surround.mp4", seconds=4, size="320x180", channels=6))
    with ctx.catalog.session() as s:
        s.get(Asset, asset_id).loudnorm = False  # type: ignore[union-attr]  # as upload metadata "loudnorm: off"
    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)
    media = _media_dir(ctx, asset_id)

    master = m3u8.load(str(media / "master.m3u8"))
    groups = {(m.group_id, m.uri, m.channels) for m in master.media if m.type == "AUDIO"}
    assert groups == {("audio", "audio/index.m3u8", "2"), ("audio-mc", "audio-51/index.m3u8", "6")}
    # Every video rung is offered with each group (Apple's authoring spec); the validator checked that
    # each variant's BANDWIDTH counts its own group's audio.
    by_group = {p.stream_info.audio: p for p in master.playlists}
    assert len(master.playlists) == 2 and set(by_group) == {"audio", "audio-mc"}
    assert by_group["audio-mc"].uri == by_group["audio"].uri
    _, audios = published_tracks(ctx, asset_id)
    assert sorted(a.init.channels or 0 for a in audios) == [2, 6]
    assert_plays_whole(str(media / "master.m3u8"), 4, tolerance=0.05)
    assert pitch(media / "audio/index.m3u8") == pytest.approx(440, rel=0.03)
    # make_clip's mono tone is upmixed into the centre channel of its 5.1 source.
    assert pitch(media / "audio-51/index.m3u8", channel=2) == pytest.approx(440, rel=0.03)

    # Normalisation off for this asset: the published level is the source's, not the target.
    records = {t["name"]: t for t in asset.audio_tracks or []}
    assert set(records) == {"audio", "audio-51"} and not any(t["normalised"] for t in records.values())
    for record in records.values():
        source_level, published = record["input_loudness"]["integrated"], record["output_loudness"]["integrated"]
        assert published == pytest.approx(source_level, abs=1.0) and published < TARGET - 3, record

    mpd = ET.parse(media / "manifest.mpd").getroot()
    sets = [a for a in mpd.iterfind("d:Period/d:AdaptationSet", _NS) if a.get("contentType") == "audio"]
    assert len(sets) == 1
    channels = sorted(c.get("value") for c in sets[0].iterfind("d:Representation/d:AudioChannelConfiguration", _NS))
    assert channels == ["2", "6"]


def _broken_second_track(path: Path, *, both: bool = False) -> Path:
    """4 s of video, a 440 Hz track and a 880 Hz one whose every packet is garbage (the noise bitstream
    filter): the latter decodes to nothing. `both`: the first is garbage too."""
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    argv += ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=4"]
    argv += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=4"]
    argv += ["-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000:duration=4"]
    argv += ["-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]
    argv += ["-bsf:a" if both else "-bsf:a:1", "noise=amount=1"]
    subprocess.run([*argv, str(path)], check=True)
    return path


def test_an_audio_track_that_does_not_decode_is_left_out(tmp_path: Path) -> None:
    ctx = pipeline_context(tmp_path)
    asset_id, job_id = submit(ctx, _broken_second_track(tmp_path / "broken.mp4"))
    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)
    media = _media_dir(ctx, asset_id)
    assert [t["name"] for t in asset.audio_tracks or []] == ["audio"]
    assert pitch(media / "audio/index.m3u8") == pytest.approx(440, rel=0.03)
    assert_plays_whole(str(media / "master.m3u8"), 4, tolerance=0.05)


def test_a_source_whose_audio_all_fails_to_decode_fails_with_that_reason(tmp_path: Path) -> None:
    ctx = pipeline_context(tmp_path)
    asset_id, job_id = submit(ctx, _broken_second_track(tmp_path / "broken.mp4", both=True))
    run_job(ctx, job_id)
    asset, job = job_outcome(ctx, asset_id, job_id)
    assert job.state == JobState.FAILED and asset.state == AssetState.FAILED
    assert job.error is not None and job.error.startswith("none of the source's audio tracks could be decoded")
