"""The text streams of a source (subtitles and captions it carries), as the probe reports them.

Only text codecs ffmpeg converts to WebVTT are listed; bitmap subtitles (PGS, VobSub, DVB) would need
OCR and are left out. Closed captions carried inside the video stream (CEA-608 in ATSC A/53 user data,
what broadcast and many camera and editing tools write) are not a stream: the decoder hands them out
with each frame, so `has_closed_captions` decodes the first frames only to find them.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
from av.sidedata.sidedata import Type as SideDataType

# ffmpeg decoders whose output its WebVTT encoder takes
TEXT_CODECS = frozenset({"mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text"})
# Video codecs whose ffmpeg decoder exports A/53 closed captions (frame side data A53_CC).
CAPTION_CARRIERS = frozenset({"h264", "hevc", "mpeg2video"})
# Frames decoded to find them: a stream that carries captions carries cc_data (padding between captions)
# in every frame, so two seconds tell; a long file without captions costs no more than a short one.
CAPTION_PROBE_FRAMES = 60


@dataclass(frozen=True)
class TextStream:
    index: int  # among the source's subtitle streams: ffmpeg's -map 0:s:<index>
    codec: str
    language: str  # as tagged (ISO 639-2 in MP4 and Matroska, e.g. "eng"); "und" when untagged
    title: str | None = None
    default: bool = False
    forced: bool = False
    hearing_impaired: bool = False


def text_streams(container: av.container.InputContainer) -> list[TextStream]:
    found: list[TextStream] = []
    for position, stream in enumerate(container.streams.subtitles):
        codec = stream.codec_context.name if stream.codec_context else ""
        if codec not in TEXT_CODECS:
            continue
        disposition = stream.disposition
        found.append(
            TextStream(
                index=position,
                codec=codec,
                language=(stream.metadata.get("language") or "und")[:35],
                # Matroska says "title", MP4 "name"; not handler_name: muxers fill it with "SubtitleHandler"
                title=stream.metadata.get("title") or stream.metadata.get("name") or None,
                default=bool(disposition & av.stream.Disposition.default),
                forced=bool(disposition & av.stream.Disposition.forced),
                hearing_impaired=bool(disposition & av.stream.Disposition.hearing_impaired),
            )
        )
    return found


def has_closed_captions(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, frames: int = CAPTION_PROBE_FRAMES
) -> bool:
    """Whether the video carries A/53 closed captions, from its first `frames` frames (seeks to the start)."""
    if stream.codec_context is None or stream.codec_context.name not in CAPTION_CARRIERS:
        return False
    container.seek(0)
    for count, frame in enumerate(container.decode(stream), start=1):
        if SideDataType.A53_CC in frame.side_data:
            return True
        if count >= frames:
            break
    return False
