"""Probe an original with PyAV (libavformat in-process): no system ffprobe needed.

Reads only headers, a few hundred packets and the first decoded video frame, so it is cheap even
for multi-GB files, and it works on a local path or on any seekable file object (storage.reader).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any, BinaryIO, cast

import av

from media.colour import ColourInfo, describe_colour
from media.errors import InvalidMedia
from media.text_streams import TextStream, has_closed_captions, text_streams

PROBE_USER_AGENT = "vodstack-probe"
# Over HTTP (a presigned URL) it says who reads: storage logs tell the probe's reads from the encode's.
HTTP_OPTIONS = {"user_agent": PROBE_USER_AGENT}
# Tiny sources (a 1x1 or 16x16 sticker, say) are scaled up by the ladder (transcoder.encode.ladder) to
# one macroblock on the short side: H.264 codes 16x16 blocks anyway, so a smaller picture saves nothing,
# and players' decoders are not all tested below it. The display aspect is kept.
MIN_SHORT_SIDE = 16
# Packets demuxed to detect variable frame rate.
VFR_SAMPLE_PACKETS = 240


@dataclass(frozen=True)
class ProbeLimits:
    """Guards against decompression bombs and absurd inputs, checked before any real decoding."""

    max_width: int = 7680
    max_height: int = 4320
    max_duration_seconds: float = 6 * 3600
    max_frame_rate: float = 240.0
    min_duration_seconds: float = 0.1


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int  # coded (storage) size
    height: int
    sar: tuple[int, int]
    rotation: int  # display-matrix rotation, counter-clockwise degrees: 0, 90, 180 or 270
    frame_rate: float
    variable_frame_rate: bool
    interlaced: bool
    pix_fmt: str | None
    # Where the last frame starts, in seconds from the start of the file (what ffmpeg's -ss counts):
    # a still or a thumbnail asked for after it finds no frame. Short of the duration when the video
    # ends before the audio (a cover image over a song). None: unknown.
    last_frame_time: float | None = None
    # Transfer, primaries, bit depth and HDR metadata of the first frame (media.colour); None: not probed.
    colour: ColourInfo | None = None
    # What the video stream alone spends, bits/s, as the container states it (MP4: its samples' sizes
    # over its duration); None: not stated (Matroska, raw streams).
    bit_rate: int | None = None

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as shown: SAR applied, then rotation."""
        w = self.width * self.sar[0] / self.sar[1]
        h = float(self.height)
        if self.rotation in (90, 270):
            w, h = h, w
        return max(1, round(w)), max(1, round(h))  # a 1-pixel side squeezed by its pixel aspect stays 1


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    channels: int
    layout: str
    sample_rate: int
    # Which of the source's audio streams this is (ffmpeg's 0:a:N): the default-flagged one, else the
    # first. One audio rendition is made from it; the others are left out.
    index: int = 0
    streams: int = 1  # audio streams in the source


@dataclass(frozen=True)
class AudioTrackInfo:
    """One audio stream of the source, as the transcoder's audio plan needs it (each becomes a rendition)."""

    index: int  # ffmpeg's 0:a:N
    codec: str
    channels: int
    sample_rate: int
    language: str | None = None  # the stream's language tag as written (often ISO 639-2, "eng")
    title: str | None = None
    default: bool = False
    commentary: bool = False  # disposition "comment"
    descriptive: bool = False  # disposition "visual_impaired": audio description
    hearing_impaired: bool = False


@dataclass(frozen=True)
class MediaInfo:
    format: str
    duration: float
    size: int | None
    video: VideoInfo | None  # None: an audio-only source (a song, a podcast); then audio is never None
    audio: AudioInfo | None
    extra_streams: list[str] = field(default_factory=list)
    audio_tracks: list[AudioTrackInfo] = field(default_factory=list)  # every audio stream, in order
    text_streams: list[TextStream] = field(default_factory=list)  # subtitles to publish as caption tracks
    closed_captions: bool = False  # CEA-608 inside the video (media.text_streams.has_closed_captions)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.video is not None:
            data["video"]["display_width"], data["video"]["display_height"] = self.video.display_size
        return data

    @property
    def audio_only(self) -> bool:
        return self.video is None

    def picture(self) -> VideoInfo:
        """The video stream, where only a source with one can get (the content-aware ladder's analysis);
        ValueError for an audio-only source."""
        if self.video is None:
            raise ValueError("the source has no video stream")
        return self.video


def _duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return 0.0


def _rate(stream: av.video.stream.VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return float(rate)
    return 0.0


def _is_vfr(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> bool:
    """True when frame durations vary by more than 25% in the first packets (presentation order)."""
    pts = []
    for packet in container.demux(stream):
        if packet.pts is not None:
            pts.append(packet.pts)
        if len(pts) >= VFR_SAMPLE_PACKETS:
            break
    pts.sort()
    deltas = [b - a for a, b in zip(pts, pts[1:], strict=False) if b > a]
    if len(deltas) < 4:
        return False
    lo, hi = min(deltas), max(deltas)
    return hi > lo * 1.25


def _reaches_end(container: av.container.InputContainer, stream: av.stream.Stream, duration: float) -> bool:
    """False when the announced end of the video cannot be read: the file was cut after its index.

    An MP4 with its moov first (faststart) parses completely even when half the media data is
    missing, and ffmpeg then encodes the half it finds and exits 0; one seek near the end catches it.
    """
    if duration <= 1.0 or stream.time_base is None:
        return True
    try:
        container.seek(int((duration - 0.5) / stream.time_base), stream=stream, any_frame=True, backward=True)
    except av.error.FFmpegError:
        return True  # not seekable (a pipe, a raw stream): nothing more to learn cheaply
    for packet in container.demux(stream):
        if packet.size:
            return True
    return False


def _last_frame_time(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, duration: float
) -> float | None:
    """Start of the last video frame: its packets from the keyframe before the last two seconds,
    demuxed (not decoded) to the end of the file."""
    if stream.time_base is None:
        return None
    try:
        container.seek(int(max(0.0, duration - 2.0) / stream.time_base), stream=stream, backward=True)
    except av.error.FFmpegError:
        return None
    last = max((p.pts for p in container.demux(stream) if p.pts is not None and p.size), default=None)
    if last is None:
        return None
    origin = (container.start_time or 0) / av.time_base
    return max(0.0, float(last * stream.time_base) - origin)


def probe_source(source: str | os.PathLike[str] | BinaryIO, limits: ProbeLimits | None = None) -> MediaInfo:
    """Describe the original (a path, a URL or a seekable file object), or raise InvalidMedia with
    a reason a creator can read. In-process: untrusted originals go through probe_sandbox instead."""
    limits = limits or ProbeLimits()
    size = None
    url = isinstance(source, str) and "://" in source
    if isinstance(source, str | os.PathLike) and not url:
        try:
            size = os.path.getsize(source)
        except OSError as exc:
            raise InvalidMedia(f"cannot read the original: {exc.strerror}", reason="unreadable") from exc
        if size == 0:
            raise InvalidMedia("the file is empty (0 bytes)", reason="empty")
    try:
        container = av.open(source, mode="r", timeout=30, options=HTTP_OPTIONS if url else None)
    except av.error.FFmpegError as exc:
        raise InvalidMedia(f"not a recognised audio/video file ({exc.strerror or exc})", reason="not_media") from exc
    try:
        return _describe(container, size, limits)
    except av.error.FFmpegError as exc:
        raise InvalidMedia(f"the file is damaged or truncated ({exc.strerror or exc})", reason="corrupt") from exc
    finally:
        container.close()


def _describe(container: av.container.InputContainer, size: int | None, limits: ProbeLimits) -> MediaInfo:
    # An mp3's or m4a's cover art is a one-picture "video" stream flagged attached_pic: a song with
    # its cover is audio-only (the picture is not a video to encode).
    pictures = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not pictures:
        if container.streams.audio:
            return _describe_audio_only(container, size, limits)
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
        raise InvalidMedia(
            f"the file has neither a video nor an audio stream (streams found: {kinds})", reason="no_media_stream"
        )
    vstream = pictures[0]
    cc = vstream.codec_context
    if cc is None:
        raise InvalidMedia("the video stream's codec is unknown; the file is damaged", reason="corrupt")
    width, height = cc.width or vstream.width, cc.height or vstream.height
    if not width or not height:
        raise InvalidMedia("the video stream has no frame size; the file is probably truncated", reason="corrupt")
    _check_size(width, height, limits)
    duration = _duration(container, vstream)
    if duration > limits.max_duration_seconds:
        raise InvalidMedia(
            f"video lasts {duration:.0f} s; the limit is {limits.max_duration_seconds:.0f} s", reason="too_long"
        )
    frame_rate = _rate(vstream)
    if frame_rate > limits.max_frame_rate:
        raise InvalidMedia(f"frame rate {frame_rate:.1f} fps is over {limits.max_frame_rate}", reason="bad_rate")
    sar = vstream.sample_aspect_ratio or Fraction(1, 1)
    if sar <= 0:
        sar = Fraction(1, 1)

    vfr = _is_vfr(container, vstream)
    container.seek(0)
    first = next(iter(container.decode(vstream)), None)
    if first is None:
        raise InvalidMedia("no video frame could be decoded; the file is damaged or truncated", reason="corrupt")
    # The size the decoder really produces wins over the one the headers declare.
    width, height = first.width, first.height
    _check_size(width, height, limits)
    if not _reaches_end(container, vstream, duration):
        raise InvalidMedia(
            f"the file is truncated: its index announces {duration:.1f} s but the media data stops short",
            reason="truncated",
        )
    last_frame_time = _last_frame_time(container, vstream, duration)
    # Display-matrix rotation, counter-clockwise degrees; ffmpeg applies it itself when decoding.
    rotation = int(round(getattr(first, "rotation", 0) or 0)) % 360
    # AVFieldOrder: 0 unknown, 1 progressive, 2.. field orders of interlaced content.
    field_order = int(getattr(cc, "field_order", 0) or 0)
    interlaced = bool(first.interlaced_frame) or field_order > 1
    if duration < limits.min_duration_seconds:
        raise InvalidMedia(f"video lasts only {duration:.2f} s", reason="too_short")

    audio = _audio(container)
    video = VideoInfo(
        codec=cc.name,
        width=width,
        height=height,
        sar=(sar.numerator, sar.denominator),
        rotation=rotation,
        frame_rate=frame_rate,
        variable_frame_rate=vfr,
        interlaced=interlaced,
        pix_fmt=cc.format.name if cc.format else None,
        last_frame_time=last_frame_time,
        colour=_colour(first, cc),
        bit_rate=vstream.bit_rate or None,
    )
    _check_display(video, limits)
    extra: list[str] = [s.type for s in container.streams if s.type not in ("video", "audio")]
    return MediaInfo(
        container.format.name,
        duration,
        size,
        video,
        audio,
        extra,
        _audio_tracks(container),
        text_streams(container),
        has_closed_captions(container, vstream),
    )


def _describe_audio_only(container: av.container.InputContainer, size: int | None, limits: ProbeLimits) -> MediaInfo:
    """An audio-only source (mp3, wav, flac, m4a, ogg): the same duration limits, its first audio frame
    decoded and its end reachable, as a video's."""
    audio = _audio(container)
    if audio is None:  # pragma: no cover - the caller saw an audio stream
        raise InvalidMedia("the file has no audio stream", reason="no_media_stream")
    stream = container.streams.audio[audio.index]
    duration = _duration(container, stream)
    if duration > limits.max_duration_seconds:
        raise InvalidMedia(
            f"audio lasts {duration:.0f} s; the limit is {limits.max_duration_seconds:.0f} s", reason="too_long"
        )
    if duration < limits.min_duration_seconds:
        raise InvalidMedia(f"audio lasts only {duration:.2f} s", reason="too_short")
    if next(iter(container.decode(stream)), None) is None:
        raise InvalidMedia("no audio frame could be decoded; the file is damaged or truncated", reason="corrupt")
    if not _reaches_end(container, stream, duration):
        raise InvalidMedia(
            f"the file is truncated: its index announces {duration:.1f} s but the media data stops short",
            reason="truncated",
        )
    extra: list[str] = [s.type for s in container.streams if s.type != "audio"]
    return MediaInfo(
        container.format.name, duration, size, None, audio, extra, _audio_tracks(container), text_streams(container)
    )


def _colour(frame: av.VideoFrame, cc: av.video.codeccontext.VideoCodecContext) -> ColourInfo:
    """The decoded frame's colour properties (the codec context's when the frame leaves one unset)."""

    def pick(name: str) -> int | None:
        value = getattr(frame, name, None) or getattr(cc, name, None)
        return int(value) if value is not None else None

    bits = max((c.bits for c in frame.format.components), default=8) if frame.format is not None else 8
    return describe_colour(
        primaries=pick("color_primaries"),
        transfer=pick("color_trc"),
        matrix=pick("colorspace"),
        colour_range=pick("color_range"),
        bit_depth=bits,
        # Iterating the container yields its SideData items (its Mapping methods do not work in PyAV 18).
        side_data=[_side_data_name(getattr(sd, "type", sd)) for sd in cast("Iterable[object]", frame.side_data)],
    )


def _side_data_name(kind: object) -> str:
    return str(getattr(kind, "name", kind))


def _check_size(width: int, height: int, limits: ProbeLimits) -> None:
    if width > limits.max_width or height > limits.max_height:
        raise InvalidMedia(
            f"video is {width}x{height}; the limit is {limits.max_width}x{limits.max_height}",
            reason="too_large",
        )


def _check_display(video: VideoInfo, limits: ProbeLimits) -> None:
    """The picture as shown (pixel aspect and rotation applied) within the limits, either way up."""
    short, long_side = sorted(video.display_size)
    max_short, max_long = sorted((limits.max_width, limits.max_height))
    if short > max_short or long_side > max_long:
        shown = "x".join(map(str, video.display_size))
        raise InvalidMedia(
            f"video is displayed at {shown} (its pixel aspect ratio stretches it); "
            f"the limit is {limits.max_width}x{limits.max_height}",
            reason="too_large",
        )
    # A picture under a macroblock on its short side is encoded scaled up to one (transcoder.encode.ladder):
    # a thin line of a picture would then grow past the limit on its long side.
    scaled_long = math.ceil(long_side * MIN_SHORT_SIDE / short)
    if short < MIN_SHORT_SIDE and scaled_long > max_long:
        shown = "x".join(map(str, video.display_size))
        raise InvalidMedia(
            f"video is displayed at {shown}, too thin a strip to encode: at the smallest height players "
            f"handle ({MIN_SHORT_SIDE} pixels) it would be {scaled_long} pixels long, over the limit of {max_long}",
            reason="bad_aspect",
        )


def _audio_tracks(container: av.container.InputContainer) -> list[AudioTrackInfo]:
    flags = av.stream.Disposition
    tracks = []
    for index, stream in enumerate(container.streams.audio):
        a = stream.codec_context
        metadata = stream.metadata or {}
        tracks.append(
            AudioTrackInfo(
                index=index,
                codec=a.name if a is not None else "",
                channels=a.channels if a is not None else 0,
                sample_rate=a.sample_rate if a is not None else 0,
                language=(metadata.get("language") or "").strip()[:35] or None,
                # Matroska and most containers say "title"; MP4's mov demuxer reports its udta name as "name".
                title=(metadata.get("title") or metadata.get("name") or "").strip()[:120] or None,
                default=bool(stream.disposition & flags.default),
                commentary=bool(stream.disposition & flags.comment),
                descriptive=bool(stream.disposition & flags.visual_impaired),
                hearing_impaired=bool(stream.disposition & flags.hearing_impaired),
            )
        )
    return tracks


def _audio(container: av.container.InputContainer) -> AudioInfo | None:
    """The audio stream to keep: the one flagged default, else the first (several languages or
    commentaries get their own renditions once multi-audio lands; until then, one)."""
    streams = list(container.streams.audio)
    if not streams:
        return None
    index = next((i for i, s in enumerate(streams) if s.disposition & av.stream.Disposition.default), 0)
    a = streams[index].codec_context
    return AudioInfo(
        codec=a.name,
        channels=a.channels,
        layout=a.layout.name if a.layout else "",
        sample_rate=a.sample_rate,
        index=index,
        streams=len(streams),
    )
