"""Build a real CMAF package for tests: ffmpeg encodes an aligned ladder, transcoder.package.fmp4 reads it
back, manifests renders master.m3u8, media/I-frame playlists and manifest.mpd next to the media."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import m3u8

from manifests import dash, hls
from manifests.model import Segment, Track
from transcoder.package import fmp4

# name -> (width, height, video bitrate)
RUNGS = {"180p": (320, 180, "300k"), "360p": (640, 360, "800k")}


def build_package(out: Path, *, seconds: int = 6, rungs: dict[str, tuple[int, int, str]] = RUNGS) -> list[Track]:
    """Encode, read back and render into `out`; returns the tracks (videos first, then audio)."""
    encode(out, seconds=seconds, rungs=rungs)
    videos = [read(out / name) for name in rungs]
    audios = [read(out / "audio")]
    texts = {t.playlist_uri: hls.render_media(t) for t in [*videos, *audios]}
    texts |= {t.iframe_playlist_uri: hls.render_iframes(t) for t in videos}
    texts["master.m3u8"] = hls.render_master(videos, audios)
    texts["manifest.mpd"] = dash.render_mpd(videos, audios, duration=max(t.duration for t in videos))
    for uri, text in texts.items():
        (out / uri).write_text(text)
    return [*videos, *audios]


def encode(out: Path, *, seconds: int, rungs: dict[str, tuple[int, int, str]]) -> None:
    split = "".join(f"[s{i}]" for i in range(len(rungs)))
    scales = ";".join(f"[s{i}]scale={w}:{h}[v{i}]" for i, (w, h, _) in enumerate(rungs.values()))
    argv = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error",
        "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=30:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=sample_rate=48000:duration={seconds}",
        "-filter_complex", f"[0:v]split={len(rungs)}{split};{scales}",
    ]  # fmt: skip
    for i in range(len(rungs)):
        argv += ["-map", f"[v{i}]"]
    argv += ["-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high"]
    for i, (_, _, rate) in enumerate(rungs.values()):
        argv += [f"-b:v:{i}", rate]
    streams = " ".join(f"v:{i},name:{name}" for i, name in enumerate(rungs))
    argv += [
        # identical GOPs on every rung: the segment boundaries players switch at are shared
        "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
        "-c:a", "aac", "-ac", "2",
        "-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "2", "-hls_playlist_type", "vod",
        "-start_number", "1", "-hls_segment_filename", str(out / "%v/seg_%05d.m4s"),
        "-var_stream_map", f"{streams} a:0,name:audio",
        str(out / "%v/ffmpeg.m3u8"),
    ]  # fmt: skip
    subprocess.run(argv, check=True, timeout=300)


def read(directory: Path) -> Track:
    listed = m3u8.load(str(directory / "ffmpeg.m3u8"))
    shutil.copy(directory / listed.segment_map[0].uri, directory / "init.mp4")  # ffmpeg names it init_<n>.mp4
    init = fmp4.parse_init((directory / "init.mp4").read_bytes())
    segments = []
    for entry in listed.segments:
        data = (directory / entry.uri).read_bytes()
        info = fmp4.parse_media_segment(data, init)
        ranged = info.iframe_range if init.kind == "video" else None
        segments.append(Segment(entry.uri, info.duration, len(data), info.start, info.starts_with_idr, ranged))
    return Track(
        name=directory.name,
        kind=init.kind,
        codecs=init.codecs,
        init_uri="init.mp4",
        segments=tuple(segments),
        timescale=init.timescale,
        width=init.width,
        height=init.height,
        frame_rate=30.0 if init.kind == "video" else None,
        sar=init.sar,
        channels=init.channels,
        sample_rate=init.sample_rate,
        language="en" if init.kind == "audio" else "und",
    )
