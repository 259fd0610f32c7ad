"""Planning an image from what is published: which rung, which segments, where to seek, which argv. Pure.

The rung is the smallest one at least as wide as the image (else the top: never upscaled from a
lower one when a wider exists), of the H.264 family when the master lists others beside it (AV1 rungs:
VODSTACK_TRANSCODER_AV1); the segments are those of its media playlist that cover the time,
found from the playlist's durations; only its init segment and those segments are read. ffmpeg reads
them concatenated (a valid fragmented MP4: init, then moof/mdat pairs) and seeks inside that
file with an accurate input seek: it decodes from the segment's first keyframe and drops the frames
before the time, so the image is the first frame at or after `time`, as `ffmpeg -ss time -i original`
would give. The argv names no URL and no user text: only numbers this module formatted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import m3u8

from images.errors import BadParameter, NoPictures, NotReady
from images.params import DEFAULT_ANIMATED_WIDTH, DEFAULT_WIDTH, Animated, ImageRequest, Thumbnail

# Frame duration assumed when the master playlist states no FRAME-RATE (the ladder always does).
DEFAULT_FRAME = Decimal(1) / Decimal(30)


@dataclass(frozen=True)
class Rung:
    playlist_uri: str  # relative to the master, e.g. "720p/index.m3u8"
    width: int
    height: int
    frame_rate: float | None
    codecs: str = ""  # the variant's CODECS, e.g. "avc1.64001e,mp4a.40.2"

    @property
    def frame(self) -> Decimal:
        return Decimal(1) / Decimal(str(self.frame_rate)) if self.frame_rate else DEFAULT_FRAME


@dataclass(frozen=True)
class Segment:
    uri: str  # relative to its media playlist
    start: Decimal
    duration: Decimal

    @property
    def end(self) -> Decimal:
        return self.start + self.duration


@dataclass(frozen=True)
class MediaPlaylist:
    init_uri: str
    segments: tuple[Segment, ...]

    @property
    def duration(self) -> Decimal:
        return self.segments[-1].end if self.segments else Decimal(0)


@dataclass(frozen=True)
class Window:
    """What to read and where to seek: `segments` concatenated after the init segment, decoded from
    `offset` seconds after the first one's start, for `seconds` (thumbnails: one frame)."""

    segments: tuple[Segment, ...]
    offset: Decimal
    seconds: Decimal | None


def video_rungs(master_text: str) -> list[Rung]:
    """The video rungs a multivariant playlist lists, narrowest first; only the H.264 ones when it lists
    other codec families too. Raises NoPictures when its variants are all audio-only (an audio-only asset:
    never any image), NotReady when it lists none with a resolution otherwise (not the ladder this stack
    publishes)."""
    master = m3u8.loads(master_text)
    rungs = []
    for variant in master.playlists:
        info = variant.stream_info
        if info.resolution is None or not variant.uri or "://" in variant.uri or variant.uri.startswith("/"):
            continue
        width, height = info.resolution
        rungs.append(Rung(variant.uri, int(width), int(height), info.frame_rate, info.codecs or ""))
    if not rungs and master.playlists and all(_audio_only(v.stream_info.codecs) for v in master.playlists):
        raise NoPictures("the asset is audio-only: it has no video to make images from (its picture is its waveform)")
    if not rungs:
        raise NotReady("the asset has no published video rendition")
    # An AV1 rung beside an H.264 one of the same size (listed first: fewer bits) decodes to the same frames
    # with the bundled ffmpeg (dav1d; tests/images/test_av1_images.py measured both within 0.5-3 dB), but
    # the origin may be given another ffmpeg (ImageSettings.ffmpeg) and AV1 costs more to decode under the
    # sandbox's CPU limit: images come from the H.264 family, which every ffmpeg decodes, when it is listed.
    h264 = [r for r in rungs if _video_family(r.codecs) == "avc1"]
    return sorted(h264 or rungs, key=lambda r: (r.width, r.height))


def parse_media(text: str) -> MediaPlaylist:
    """Segments of a finished media playlist with their start times. Raises NotReady for a playlist
    still growing or one without an init segment (not a CMAF rung)."""
    playlist = m3u8.loads(text)
    if not playlist.is_endlist:
        raise NotReady("the rendition is still being published")
    if not playlist.segment_map or not playlist.segment_map[0].uri or playlist.segment_map[0].byterange:
        raise NotReady("the rendition has no init segment")
    start = Decimal(0)
    segments = []
    for seg in playlist.segments:
        if seg.byterange or not seg.uri or "://" in seg.uri or seg.uri.startswith("/"):
            raise NotReady("the rendition's segments are not separate objects")
        duration = Decimal(str(seg.duration))
        segments.append(Segment(seg.uri, start, duration))
        start += duration
    if not segments:
        raise NotReady("the rendition has no segments")
    return MediaPlaylist(playlist.segment_map[0].uri, tuple(segments))


def output_width(request: ImageRequest, rungs: Sequence[Rung]) -> int:
    """The width of the image: as asked, never wider than the top rung (BadParameter), or the default
    capped by the top rung."""
    top = max(r.width for r in rungs)
    if request.width is None:
        return min(top, DEFAULT_WIDTH if isinstance(request, Thumbnail) else DEFAULT_ANIMATED_WIDTH)
    if request.width > top:
        raise BadParameter(f"width must be at most {top} pixels, the widest rendition of this asset")
    return request.width


def choose_rung(rungs: Sequence[Rung], width: int) -> Rung:
    """The narrowest rung at least `width` wide, else the widest."""
    ordered = sorted(rungs, key=lambda r: (r.width, r.height))
    for rung in ordered:
        if rung.width >= width:
            return rung
    return ordered[-1]


def window(request: ImageRequest, media: MediaPlaylist, frame: Decimal) -> Window:
    """The segments and seek for `request`. Raises BadParameter for a time outside [0, duration]."""
    duration = media.duration
    shown = f"{duration.normalize():f}"
    if isinstance(request, Thumbnail):
        if request.time > duration:
            raise BadParameter(f"time must be between 0 and {shown}, the duration of the asset in seconds")
        # The last frame starts one frame before the end: a time in that frame, or the end itself, shows it
        # (1.5 frames back, since the playlist's durations are rounded to the millisecond).
        time = max(Decimal(0), min(request.time, duration - frame * Decimal("1.5")))
        return _covering(media, time, time, frame, None)
    if request.end > duration:
        raise BadParameter(f"end must be at most {shown}, the duration of the asset in seconds")
    return _covering(media, request.start, request.end, frame, request.end - request.start)


def _covering(media: MediaPlaylist, start: Decimal, end: Decimal, frame: Decimal, seconds: Decimal | None) -> Window:
    """Segments holding [start, end], plus the next one when the first frame at or after `end` may lie
    in it (`end` within a frame of a segment's end)."""
    first = next((i for i, s in enumerate(media.segments) if s.end > start), len(media.segments) - 1)
    last = first
    while last + 1 < len(media.segments) and media.segments[last].end < end + frame:
        last += 1
    chosen = media.segments[first : last + 1]
    return Window(chosen, start - chosen[0].start, seconds)


# Encoder options per output: quality a thumbnail needs, metadata stripped, deterministic bytes.
_ENCODERS: dict[str, list[str]] = {
    # image2 with -update 1: one picture into one named file (no sequence pattern).
    "jpg": ["-c:v", "mjpeg", "-q:v", "3", "-f", "image2", "-update", "1"],
    "webp": ["-c:v", "libwebp", "-quality", "80", "-f", "webp"],
    # still-picture: an AVIF image item, not an AV1 sequence; cpu-used 8: the fastest preset, a
    # single small picture does not repay slower ones.
    "avif": ["-c:v", "libaom-av1", "-still-picture", "1", "-cpu-used", "8", "-crf", "32", "-f", "avif"],
    "animated": ["-c:v", "libwebp_anim", "-quality", "70", "-loop", "0", "-f", "webp"],
}


def argv(ffmpeg: str, source: str, out: str, request: ImageRequest, win: Window, width: int) -> list[str]:
    """The ffmpeg command for `request`, reading the concatenated segments at `source` into `out`."""
    # scale: the asked width, the height that keeps the aspect ratio (even: 4:2:0 encoders need it).
    scale = f"scale={width}:-2:flags=bicubic"
    head = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-threads", "2"]
    # Input -ss: seek in the concatenated segments, relative to their first timestamp (the segment's
    # start), decoding from its keyframe and dropping the frames before (accurate seek).
    head += ["-ss", f"{win.offset:.6f}"]
    if win.seconds is not None:
        head += ["-t", f"{win.seconds:.6f}"]
    head += ["-i", source, "-map", "0:v:0", "-an", "-sn", "-dn"]
    tail = ["-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact"]
    if isinstance(request, Animated):
        # fps (round=near): frame k is the last source frame before start + (k + 1/2)/fps (not before
        # start: the seek dropped those), the last one in the slot centred on start + k/fps; -frames:v
        # caps them at the count.
        vf = f"fps={request.fps},{scale}"
        return [*head, "-vf", vf, "-frames:v", str(request.frames), *tail, *_ENCODERS["animated"], out]
    return [*head, "-vf", scale, "-frames:v", "1", *tail, *_ENCODERS[request.format], out]


def _audio_only(codecs: str | None) -> bool:
    """CODECS of an audio-only variant (RFC 6381: AAC "mp4a.*", or another audio codec without video)."""
    names = [c.strip().split(".")[0] for c in (codecs or "").split(",") if c.strip()]
    return bool(names) and all(n in {"mp4a", "ac-3", "ec-3", "opus", "fLaC"} for n in names)


def _video_family(codecs: str) -> str | None:
    """The sample entry of the video codec in a variant's CODECS ("avc1" of "avc1.64001e,mp4a.40.2")."""
    names = [c.strip().split(".")[0] for c in codecs.split(",") if c.strip()]
    return next((n for n in names if not _audio_only(n)), None)
