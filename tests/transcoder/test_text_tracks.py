"""Caption tracks through a real job: a source with a subtitle stream, an SRT uploaded before the job; both
published on the segment grid, listed in the master and the MPD, and read back by ffmpeg as a player."""

from __future__ import annotations

import subprocess
from pathlib import Path

import m3u8
import pytest

from captions import library
from captions.cues import parse
from captions.tracks import UPLOADED, track_options
from catalog.captions import CaptionTrack
from tests.media import assert_plays_whole, ffmpeg_exe, make_clip
from tests.transcoder.harness import assert_succeeded, pipeline_context, submit
from transcoder.pipeline import run_job

pytestmark = pytest.mark.ffmpeg

EMBEDDED_SRT = "1\n00:00:00,500 --> 00:00:01,800\nBonjour du fichier\n\n2\n00:00:04,200 --> 00:00:05,000\nFin\n"
UPLOADED_SRT = b"1\n00:00:01,000 --> 00:00:03,000\nHello from the upload\n\n2\n00:00:04,500 --> 00:00:05,500\nBye\n"


def with_subtitles(clip: Path, srt: Path, dest: Path, title: str | None = None) -> Path:
    """`clip` with `srt` muxed in as a French mov_text stream (what phones and editors write in MP4)."""
    argv = [ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", "-i", str(clip), "-i", str(srt)]
    argv += ["-map", "0", "-map", "1", "-c", "copy", "-c:s", "mov_text", "-metadata:s:s:0", "language=fre"]
    argv += ["-metadata:s:s:0", f"title={title}"] if title else []
    argv += [str(dest)]
    subprocess.run(argv, check=True)
    return dest


def assert_tracks_on_the_grid(master_path: Path, master: m3u8.M3U8) -> None:
    """The uploaded (en) and embedded (fr) tracks of EMBEDDED_SRT and UPLOADED_SRT, each on the grid of the
    master's first variant (as many segments, the same durations) with its cues at their times."""
    subs = {m.language: m for m in master.media if m.type == "SUBTITLES"}
    grid = m3u8.loads((master_path.parent / master.playlists[0].uri).read_text())
    for language, expected in {
        "en": [(1.0, 3.0, "Hello from the upload"), (4.5, 5.5, "Bye")],
        "fr": [(0.5, 1.8, "Bonjour du fichier"), (4.2, 5.0, "Fin")],
    }.items():
        playlist = master_path.parent / subs[language].uri
        text = m3u8.loads(playlist.read_text())
        assert [s.duration for s in text.segments] == pytest.approx([s.duration for s in grid.segments], abs=0.002)
        assert read_cues(str(playlist)) == expected


def read_cues(playlist: str) -> list[tuple[float, float, str]]:
    """The cues ffmpeg's HLS reader finds in a subtitle playlist, all streams mapped, as WebVTT."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", playlist, "-map", "0", "-f", "webvtt", "-"],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr.decode()
    return [(c.start_ms / 1000, c.end_ms / 1000, c.text) for c in parse(proc.stdout)]


def test_embedded_and_uploaded_tracks_are_published(tmp_path: Path) -> None:
    ctx = pipeline_context(tmp_path)
    (tmp_path / "fr.srt").write_text(EMBEDDED_SRT)
    plain = make_clip(tmp_path / "plain.mp4", seconds=6, size="320x180")
    # A title with quotes (they cannot stand in an HLS NAME) is kept without them.
    source = with_subtitles(plain, tmp_path / "fr.srt", tmp_path / "clip.mp4", title='Le "vrai" texte')
    asset_id, job_id = submit(ctx, source)
    options = track_options("en", label="English", kind="captions", default=True)
    library.save(ctx.catalog, asset_id, "en", UPLOADED, options, parse(UPLOADED_SRT))

    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)
    root = ctx.settings.storage.root / "media"
    assert asset.master_key is not None and asset.dash_key is not None
    master_path = root / asset.master_key
    master = m3u8.loads(master_path.read_text())
    subs = {m.language: m for m in master.media if m.type == "SUBTITLES"}
    assert set(subs) == {"en", "fr"}
    assert subs["en"].default == "YES" and subs["fr"].default == "NO"
    assert (subs["en"].name, subs["fr"].name) == ("English", "Le vrai texte")
    assert all(v.stream_info.subtitles == "subs" for v in master.playlists)

    assert_tracks_on_the_grid(master_path, master)

    mpd = (root / asset.dash_key).read_text()
    assert mpd.count('contentType="text"') == 2
    with ctx.catalog.session() as s:
        assert sorted(t.source for t in s.query(CaptionTrack).all()) == ["embedded-0", "upload"]
    # The ladder itself still plays whole, subtitles listed beside it.
    assert_plays_whole(str(master_path), 6.0)
