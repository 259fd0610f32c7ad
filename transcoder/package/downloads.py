"""Static MP4 downloads, remuxed from the verified CMAF renditions: no second encode.

The highest and the lowest video rung become progressive MP4 files (H.264 + AAC, `moov` first so a
browser or a download manager can start at once), and the audio rendition an M4A. Each is made by
concatenating a rendition's init segment and media segments (a valid fragmented MP4, byte for byte
what players stream) and letting ffmpeg copy the samples into a non-fragmented file
(`-c copy -movflags +faststart`): the bytes of the samples are the published ones, only the boxes
around them change, so a download is as large as its segments within a fraction of a percent.

Names are safe ASCII derived from the asset's title (or its id), e.g. `holiday-1080p.mp4`; the object
key ends with that name under `downloads/`, which is where the origin takes the `Content-Disposition`
filename from (httpsemantics.caching.content_disposition).
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catalog.models import Asset
from manifests.model import Track
from transcoder.encode.runner import run_ffmpeg
from transcoder.errors import EncodeFailed
from transcoder.package.boxes import Box, boxes

if TYPE_CHECKING:
    from transcoder.pipeline import PipelineContext

DOWNLOADS_DIR = "downloads"
# Top-level boxes a faststart file begins with: `moov` must come before the first `mdat`.
_HEADER = 8
# How far a download's size may be from its segments' (boxes only: sample tables against fragment
# headers; measured well under 2% on the test ladders, tests/transcoder/test_downloads.py), plus a
# little for the headers of a file of a few frames (a 0.1 s source: 5% of 10 kB).
SIZE_TOLERANCE = 0.05
SIZE_SLACK_BYTES = 4096
_NAME_LIMIT = 60
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MEDIA_EXTENSIONS = re.compile(
    r"\.(mp4|m4v|mov|mkv|webm|avi|mpe?g|ts|mts|m2ts|flv|wmv|3gp|ogv|mp3|wav|flac|m4a|ogg|aac)$", re.I
)


@dataclass(frozen=True)
class DownloadPlan:
    """One file to make: `video` (a rendition name) or None for the M4A, `audio` a rendition name or None."""

    filename: str
    kind: str  # "video" (MP4) | "audio" (M4A)
    video: str | None
    audio: str | None
    height: int | None = None
    width: int | None = None


@dataclass(frozen=True)
class Download:
    """A file made and checked, as recorded on the asset (`key` relative to the attempt's prefix)."""

    plan: DownloadPlan
    path: Path
    size: int
    duration: float

    @property
    def key(self) -> str:
        return f"{DOWNLOADS_DIR}/{self.plan.filename}"

    def as_dict(self, prefix: str) -> dict[str, Any]:
        return {
            "name": self.plan.filename,
            "kind": self.plan.kind,
            "key": prefix + self.key,
            "size": self.size,
            "duration": round(self.duration, 3),
            "width": self.plan.width,
            "height": self.plan.height,
        }


def safe_basename(title: str | None, fallback: str) -> str:
    """An ASCII file name stem from a title: accents dropped, anything but letters, digits, dot,
    dash and underscore replaced by one dash, a media extension removed, at most 60 characters;
    `fallback` (the asset id) when nothing is left. Never starts with a dot (no hidden files)."""
    text = unicodedata.normalize("NFKD", title or "").encode("ascii", "ignore").decode("ascii")
    text = _MEDIA_EXTENSIONS.sub("", text.strip())
    text = _UNSAFE.sub("-", text).strip("-._")[:_NAME_LIMIT].strip("-._")
    return text or _UNSAFE.sub("-", fallback).strip("-._")[:_NAME_LIMIT] or "download"


def plan_downloads(videos: Sequence[Track], audios: Sequence[Track], basename: str) -> list[DownloadPlan]:
    """The highest and the lowest video rung as MP4 (one file when they are the same size: the higher
    bit rate then) with the first audio rendition muxed in, and that audio alone as M4A. Pure."""
    # The track players pick by default, stereo (a 5.1 rendition sits in its own group).
    stereo = [a for a in audios if a.group == "audio"] or list(audios)
    audio = next((a.name for a in stereo if a.default), stereo[0].name if stereo else None)
    plans: list[DownloadPlan] = []
    # MP4 downloads are H.264, what every device plays; AV1 rungs (beside them) are for streaming.
    h264 = [t for t in videos if t.codecs.startswith(("avc1", "avc3"))] or list(videos)
    ranked = sorted(h264, key=lambda t: (t.height or 0, t.width or 0, _bytes(t)))
    for track in [ranked[-1], ranked[0]] if ranked else []:
        label = f"{track.height}p" if track.height else track.name
        filename = f"{basename}-{label}.mp4"
        if any(p.filename == filename for p in plans):
            continue  # one rung only, or two rungs of one size: a single file, the better one
        plans.append(DownloadPlan(filename, "video", track.name, audio, track.height, track.width))
    if audio is not None:
        plans.append(DownloadPlan(f"{basename}-audio.m4a", "audio", None, audio))
    return plans


def _bytes(track: Track) -> int:
    return sum(s.size for s in track.segments)


def remux_argv(inputs: Sequence[Path], dest: Path, ffmpeg_exe: str) -> list[str]:
    """argv that copies the first stream of each fragmented input into one faststart MP4. Pure."""
    argv = [ffmpeg_exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    for path in inputs:
        argv += ["-i", str(path)]
    for index in range(len(inputs)):
        argv += ["-map", f"{index}:0"]
    # -c copy: the published samples as they are. +faststart: moov before mdat (a second pass over the
    # file by the muxer), so playback and Range-based seeking start without reading to the end.
    # -map_metadata -1: no encoder or source tags carried into a file handed out to anyone.
    argv += ["-c", "copy", "-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4", str(dest)]
    return argv


def concatenate(rendition_dir: Path, track: Track, dest: Path) -> int:
    """init + media segments of `track`, in order, as one fragmented MP4 at `dest`; its size."""
    with dest.open("wb") as out:
        for name in [track.init_uri, *(s.uri for s in track.segments)]:
            with (rendition_dir / name).open("rb") as part:
                shutil.copyfileobj(part, out, 1024 * 1024)
    return dest.stat().st_size


def top_level(path: Path) -> list[tuple[str, int, int]]:
    """(type, offset, size) of each top-level box of an MP4 file, read by their headers only."""
    found: list[tuple[str, int, int]] = []
    total = path.stat().st_size
    with path.open("rb") as f:
        pos = 0
        while pos + _HEADER <= total:
            f.seek(pos)
            header = f.read(16)
            size, box_type = int.from_bytes(header[:4], "big"), header[4:8].decode("latin-1")
            if size == 1:
                size = int.from_bytes(header[8:16], "big")
            elif size == 0:
                size = total - pos
            if size < _HEADER or pos + size > total:
                raise EncodeFailed(f"{path.name}: box {box_type!r} at {pos} overruns the file", reason="invalid_output")
            found.append((box_type, pos, size))
            pos += size
    return found


def top_level_boxes(path: Path) -> list[str]:
    return [box_type for box_type, _, _ in top_level(path)]


def moov_tracks(path: Path) -> list[Box]:
    """The `trak` boxes of the file's `moov` (read alone: it is small, the media data is not read)."""
    for box_type, offset, size in top_level(path):
        if box_type == "moov":
            with path.open("rb") as f:
                f.seek(offset)
                data = f.read(size)
            moov = next(boxes(data))
            return [b for b in boxes(data, moov.payload, moov.end) if b.type == "trak"]
    return []


def check_download(path: Path, source_bytes: int, tracks: int) -> int:
    """Raise EncodeFailed unless `path` is an unfragmented faststart MP4 with `tracks` tracks whose size
    is close to the segments it was made from (a remux changes boxes, not samples: a truncated copy
    shows as a large difference); return its size."""
    types = top_level_boxes(path)
    if "moov" not in types or "mdat" not in types or types.index("moov") > types.index("mdat"):
        raise EncodeFailed(f"{path.name} is not a faststart MP4 (boxes {types[:6]})", reason="invalid_output")
    if "moof" in types:
        raise EncodeFailed(f"{path.name} is still fragmented", reason="invalid_output")
    found = len(moov_tracks(path))
    if found != tracks:
        raise EncodeFailed(f"{path.name} has {found} tracks, not {tracks}", reason="invalid_output")
    size = path.stat().st_size
    if abs(size - source_bytes) > SIZE_TOLERANCE * source_bytes + SIZE_SLACK_BYTES:
        raise EncodeFailed(
            f"{path.name} has {size} bytes, far from the {source_bytes} bytes it was remuxed from",
            reason="invalid_output",
        )
    return size


def make_downloads(
    out: Path,
    tracks: Sequence[Track],
    plans: Sequence[DownloadPlan],
    ffmpeg_exe: str,
    run: Callable[[list[str]], None],
) -> list[Download]:
    """Remux each plan into `out/downloads/` with `run` (the sandboxed ffmpeg runner) and check it."""
    by_name = {t.name: t for t in tracks}
    folder = out / DOWNLOADS_DIR
    scratch = out / ".remux"
    folder.mkdir(exist_ok=True)
    scratch.mkdir(exist_ok=True)
    made: list[Download] = []
    try:
        for plan in plans:
            names = [n for n in (plan.video, plan.audio) if n is not None]
            inputs, source_bytes = [], 0
            for name in names:
                joined = scratch / f"{name}.mp4"
                if not joined.exists():
                    concatenate(out / name, by_name[name], joined)
                source_bytes += (
                    sum(s.size for s in by_name[name].segments) + (out / name / by_name[name].init_uri).stat().st_size
                )
                inputs.append(joined)
            dest = folder / plan.filename
            run(remux_argv(inputs, dest, ffmpeg_exe))
            size = check_download(dest, source_bytes, len(names))
            duration = max(by_name[n].duration for n in names)
            made.append(Download(plan, dest, size, duration))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return made


def build_downloads(
    ctx: PipelineContext, asset_id: str, out: Path, videos: Sequence[Track], audios: Sequence[Track]
) -> list[Download]:
    """The asset's downloads made in `out/downloads/` from its verified renditions, when the asset's
    option (else the setting) asks for them; [] otherwise."""
    with ctx.catalog.session() as s:
        asset = s.get(Asset, asset_id)
        if asset is None:
            return []
        wanted = ctx.settings.mp4_downloads if asset.mp4_downloads is None else asset.mp4_downloads
        basename = safe_basename(asset.title, asset_id)
    if not wanted:
        return []
    plans = plan_downloads(videos, audios, basename)
    # A remux copies bytes: bounded by disk speed, a minute is generous even for hours of video.
    timeout = 120 + max((t.duration for t in [*videos, *audios]), default=0) / 20
    return make_downloads(
        out, [*videos, *audios], plans, ctx.settings.ffmpeg_path(), lambda argv: run_ffmpeg(argv, timeout=timeout)
    )
