"""The text streams of a source (subtitles and captions it carries), as the probe reports them.

Only text codecs ffmpeg converts to WebVTT are listed; bitmap subtitles (PGS, VobSub, DVB) would need
OCR and are left out, as are closed captions carried inside the video stream (CEA-608/708), which
PyAV does not expose without decoding the video.
"""

from __future__ import annotations

from dataclasses import dataclass

import av

# ffmpeg decoders whose output its WebVTT encoder takes
TEXT_CODECS = frozenset({"mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text"})


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
