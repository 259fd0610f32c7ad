"""Audio-only sources (a song, a podcast): real encodes of generated mp3, flac and ogg files, played by ffmpeg.

Each ends ready with an audio-only ladder (every track at 128 and 64 kbit/s AAC-LC stereo), HLS and DASH
that decode whole, loudness at the target, the M4A download and a waveform picture; no video output, no
poster, no previews.
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import anyio
import av
import httpx
import m3u8
import pytest
from sqlalchemy import select

from captions import library
from captions.cues import parse
from captions.tracks import UPLOADED, track_options
from catalog.models import Job
from media.probe import probe_source
from origin.app import create_app as create_origin
from origin.settings import OriginSettings
from tests.media import assert_plays_whole, ffmpeg_exe, integrated_loudness, pitch, play_every_stream
from tests.transcoder.harness import (
    ListQueue,
    assert_succeeded,
    pipeline_context,
    published_prefix,
    published_tracks,
    submit,
)
from tests.transcoder.test_text_tracks import EMBEDDED_SRT, UPLOADED_SRT, assert_tracks_on_the_grid
from transcoder.encode.commands import WAVEFORM_NAME, WAVEFORM_SIZE
from transcoder.pipeline import run_job
from transcoder.split.splitter import SplitAndStitch

pytestmark = pytest.mark.ffmpeg

TARGET = -16.0
_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


def _song(path: Path, seconds: float, codec: list[str], *, tones: tuple[int, ...] = (440,), mono: bool = False) -> Path:
    """`seconds` of one tone per audio stream, quiet (-24 dB), as the given codec and container."""
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    for tone in tones:
        argv += ["-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate=44100:duration={seconds},volume=-24dB"]
    for index in range(len(tones)):
        argv += ["-map", f"{index}:a"]
    argv += ["-ac", "1" if mono else "2", *codec]
    subprocess.run([*argv, str(path)], check=True)
    return path


def _duration(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(container.duration or 0) / av.time_base


CASES = {
    # An mp3 (ID3 tag), stereo; a mono FLAC; an Ogg Vorbis file with two tracks.
    "mp3": ("song.mp3", 5.0, ["-c:a", "libmp3lame", "-b:a", "128k"], (440,), False),
    "flac": ("song.flac", 4.0, ["-c:a", "flac"], (660,), True),
    "ogg": ("song.ogg", 3.0, ["-c:a", "libvorbis"], (440, 1000), False),
    # AAC in MP4 (what phones' voice memos write) and PCM in WAV, short.
    "m4a": ("memo.m4a", 2.0, ["-c:a", "aac"], (550,), True),
    "wav": ("take.wav", 3.0, ["-c:a", "pcm_s16le"], (330,), False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_an_audio_only_source_becomes_an_audio_ladder(name: str, tmp_path: Path) -> None:
    filename, seconds, codec, tones, mono = CASES[name]
    source = _song(tmp_path / filename, seconds, codec, tones=tones, mono=mono)
    source_seconds = _duration(source)
    ctx = pipeline_context(tmp_path)
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)
    media = ctx.settings.storage.root / "media" / published_prefix(ctx, asset_id)

    # HLS: one audio-only variant per rate (no RESOLUTION, audio CODECS only), every track in each group.
    master = m3u8.load(str(media / "master.m3u8"))
    assert [(p.stream_info.audio, p.stream_info.codecs, p.stream_info.resolution) for p in master.playlists] == [
        ("audio-64k", "mp4a.40.2", None),
        ("audio", "mp4a.40.2", None),
    ]
    low, high = master.playlists
    assert (low.uri, high.uri) == ("audio-64k/index.m3u8", "audio/index.m3u8")
    assert low.stream_info.bandwidth < high.stream_info.bandwidth
    groups = {(m.group_id, m.uri) for m in master.media if m.type == "AUDIO"}
    suffixes = ["", *(f"-{i}" for i in range(1, len(tones)))]
    # The default track of each group is the variant's own media: no URI of its own.
    assert groups == {("audio", f"audio{s}/index.m3u8" if s else None) for s in suffixes} | {
        ("audio-64k", f"audio{s}-64k/index.m3u8" if s else None) for s in suffixes
    }
    assert not master.iframe_playlists
    # Every rendition decodes whole, as long as the source (to a few AAC frames).
    assert_plays_whole(str(media / "master.m3u8"), source_seconds, video=False, tolerance=0.05)
    videos, audios = published_tracks(ctx, asset_id)
    assert videos == [] and {a.init.channels for a in audios} == {2}
    assert len({len(a.segments) for a in audios}) == 1
    for index, tone in enumerate(tones):
        for rate in ("", "-64k"):
            uri = f"audio{suffixes[index]}{rate}/index.m3u8"
            assert pitch(media / uri) == pytest.approx(tone, rel=0.03), uri
            assert integrated_loudness(media / uri) == pytest.approx(TARGET, abs=1.0), uri

    # DASH: audio AdaptationSets only, one per track with both rates; decodes whole.
    mpd = ET.parse(media / "manifest.mpd").getroot()
    sets = list(mpd.iterfind("d:Period/d:AdaptationSet", _NS))
    assert [a.get("contentType") for a in sets] == ["audio"] * len(tones)
    assert all(len(a.findall("d:Representation", _NS)) == 2 for a in sets)
    played = play_every_stream(str(media / "manifest.mpd"))
    assert [s.kind for s in played] == ["audio"] * (2 * len(tones))
    assert all(s.lasts(source_seconds, 0.05) for s in played), played

    # Catalog: audio renditions only, each track's loudness recorded, no picture size.
    assert {r.kind for r in asset.renditions} == {"audio"} and asset.width is None and asset.height is None
    records = {t["name"]: t for t in asset.audio_tracks or []}
    assert set(records) == {f"audio{s}{rate}" for s in suffixes for rate in ("", "-64k")}
    for record in records.values():
        assert record["normalised"] and record["input_loudness"]["integrated"] < -20
        assert record["output_loudness"]["integrated"] == pytest.approx(TARGET, abs=1.0)

    # The M4A download, and no video MP4.
    downloads = {d["kind"]: d for d in asset.downloads or []}
    assert set(downloads) == {"audio"}
    m4a = ctx.settings.storage.root / "media" / downloads["audio"]["key"]
    [stream] = play_every_stream(str(m4a))
    assert stream.kind == "audio" and stream.lasts(source_seconds, 0.05)

    # The waveform instead of a poster; no storyboard, no thumbnails.
    with av.open(str(media / WAVEFORM_NAME)) as png:
        frame = next(png.decode(video=0))
        assert png.streams.video[0].codec_context.name == "png"
        assert (frame.width, frame.height) == WAVEFORM_SIZE
    assert not (media / "poster.jpg").exists() and not (media / "storyboard.vtt").exists()
    assert not (media / "thumbnails").exists()

    # Images on demand: a clear 404 from the origin, before any ffmpeg; the waveform itself is served.
    origin = create_origin(
        OriginSettings(storage=ctx.settings.storage, catalog=ctx.settings.catalog),
        store=ctx.store,
    )
    for image in ("thumbnail.jpg?time=1", "animated.webp?start=0&end=1"):
        r = _get(origin, f"/{asset_id}/{image}")
        assert (r.status_code, r.json()["error"]) == (404, "no_video"), r.text
        assert "audio-only" in r.json()["detail"]
    r = _get(origin, f"/{asset.master_key.rpartition('/')[0]}/{WAVEFORM_NAME}")  # type: ignore[union-attr]
    assert (r.status_code, r.headers["content-type"]) == (200, "image/png")


def _get(app: object, path: str) -> httpx.Response:
    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://o") as client:
            return await client.get(path)

    return anyio.run(get)


def test_an_audio_only_asset_gets_its_uploaded_and_embedded_captions(tmp_path: Path) -> None:
    """A podcast in Matroska audio with a French subtitle stream, and an uploaded English track: both are
    published on the audio's segment grid and listed with the audio-only variants."""
    srt = tmp_path / "fr.srt"
    srt.write_text(EMBEDDED_SRT)
    source = tmp_path / "podcast.mka"
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]
    argv += ["-i", "sine=frequency=440:sample_rate=48000:duration=6", "-i", str(srt)]
    argv += ["-map", "0:a", "-map", "1", "-c:a", "flac", "-c:s", "srt", "-metadata:s:s:0", "language=fre"]
    subprocess.run([*argv, str(source)], check=True)
    ctx = pipeline_context(tmp_path)
    asset_id, job_id = submit(ctx, source)
    options = track_options("en", label="English", kind="captions", default=True)
    library.save(ctx.catalog, asset_id, "en", UPLOADED, options, parse(UPLOADED_SRT))

    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)
    assert asset.master_key is not None
    master_path = ctx.settings.storage.root / "media" / asset.master_key
    master = m3u8.loads(master_path.read_text())
    subs = {m.language: m for m in master.media if m.type == "SUBTITLES"}
    assert set(subs) == {"en", "fr"}
    assert len(master.playlists) == 2 and all(v.stream_info.subtitles == "subs" for v in master.playlists)
    assert_tracks_on_the_grid(master_path, master)  # the first variant is audio: its grid
    assert_plays_whole(str(master_path), 6.0, video=False, tolerance=0.05)


def test_a_song_with_cover_art_is_audio_only(tmp_path: Path) -> None:
    """An mp3's cover art is a one-picture video stream flagged attached_pic: the probe calls the file
    audio-only (no one-frame video ladder held over the song) and keeps the picture as an extra stream."""
    cover = tmp_path / "cover.png"
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=red:size=64x64"]
        + ["-frames:v", "1", str(cover)],
        check=True,
    )
    song = _song(tmp_path / "plain.mp3", 2.0, ["-c:a", "libmp3lame"])
    tagged = tmp_path / "song.mp3"
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(song), "-i", str(cover)]
    argv += ["-map", "0:a", "-map", "1:v", "-c", "copy", "-id3v2_version", "3", "-disposition:v", "attached_pic"]
    subprocess.run([*argv, str(tagged)], check=True)

    info = probe_source(tagged)
    assert info.video is None and info.audio_only and info.extra_streams == ["video"]
    assert info.audio is not None and info.duration == pytest.approx(2.0, abs=0.1)
    with pytest.raises(ValueError, match="no video stream"):
        info.picture()


def test_a_long_audio_only_source_is_encoded_whole_with_split_and_stitch_on(tmp_path: Path) -> None:
    """Split-and-stitch spreads x264's work over video chunks; a source past its threshold with no video
    is one run: no part queued, ready after the first pass."""
    ctx = pipeline_context(tmp_path, split_enabled=True, split_min_duration_seconds=2.0, chunk_seconds=2.0)
    queue = ListQueue()
    ctx = replace(ctx, splitter=SplitAndStitch(queue))
    source = _song(tmp_path / "long.ogg", 6.0, ["-c:a", "libvorbis"])
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    assert_succeeded(ctx, asset_id, job_id)
    assert queue.items == []
    with ctx.catalog.session() as s:
        assert s.scalars(select(Job).where(Job.parent_id == job_id)).all() == []
