"""Audio planning: which audio renditions a source gets, and how players see them. Pure; table-tested.

Every audio stream of the source becomes its own AAC-LC stereo rendition, on the same segment grid as
the video, with its language (BCP 47), a unique name and its role from the stream's tags and
dispositions. A stream of 6 channels or more also gets a 5.1 AAC rendition, listed in a second audio
group (Apple's HLS authoring spec: multichannel in its own group, variants duplicated per group) so
that stereo-only players never pick it. AAC 5.1 rather than E-AC-3: the bundled ffmpeg has both
encoders, but Chromium (and so hls.js / dash.js there) decodes AAC 5.1 and not E-AC-3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import langcodes

from media.probe import AudioTrackInfo
from transcoder.encode.loudness import Loudness, LoudnessTarget, after_gain, linear_gain, normalise_options

STEREO_NAME = "audio"  # the default track's stereo rendition (what a single-audio source always had)
STEREO_BITRATE = 128_000
MULTICHANNEL_BITRATE = 384_000  # AAC-LC 5.1: ~64 kbit/s per full-band channel
MULTICHANNEL_CHANNELS = 6
MAIN_GROUP = "audio"
MULTICHANNEL_GROUP = "audio-mc"
# Audio-only assets (no picture to adapt): a lower rung of every track, its own HLS group and variant,
# for listeners on a poor connection. AAC-LC stereo at 64 kbit/s is the lowest rate at which music still
# sounds clean with ffmpeg's native encoder (its own docs place transparency near 128 kbit/s stereo);
# HE-AAC would go lower but the bundled ffmpeg has no libfdk_aac to encode it. A mono source is carried
# as stereo with both channels equal: every player handles stereo, and joint (M/S) coding spends
# next to nothing on the empty side channel.
LOW_BITRATE = 64_000
LOW_GROUP = "audio-64k"
LOW_SUFFIX = "-64k"
# HLS CHARACTERISTICS (Apple) for audio description of the picture.
DESCRIBES_VIDEO = "public.accessibility.describes-video"
MAX_LABEL = 80


@dataclass(frozen=True)
class AudioRendition:
    name: str  # rendition id and directory, e.g. "audio", "audio-1", "audio-51"
    source_index: int  # the source's audio stream it is made from (ffmpeg's 0:a:N)
    channels: int  # 2, or 6 for the multichannel rendition
    bitrate: int
    language: str  # BCP 47, "und" when the stream has no usable tag
    label: str  # HLS NAME / DASH Label: unique among the asset's audio tracks
    default: bool  # the one track players start with (one per group)
    autoselect: bool  # HLS AUTOSELECT: a player may pick it from the viewer's language settings
    role: str  # DASH Role: main | alternate | commentary | description
    characteristics: str | None = None  # HLS CHARACTERISTICS
    group: str = MAIN_GROUP
    # How this rendition is normalised: by one gain (dB, the `volume` filter) where that reaches the target
    # within the true-peak ceiling, else by loudnorm's dynamic mode with these options (measured values
    # in). Neither (None and empty): not normalised.
    loudnorm: tuple[tuple[str, str], ...] = ()
    gain: float | None = None

    @property
    def normalised(self) -> bool:
        return bool(self.loudnorm) or self.gain is not None

    @property
    def multichannel(self) -> bool:
        return self.channels > 2

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "loudnorm": [list(pair) for pair in self.loudnorm]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AudioRendition:
        return cls(**{**data, "loudnorm": tuple((str(k), str(v)) for k, v in data.get("loudnorm", ()))})


def bcp47(tag: str | None) -> str:
    """The BCP 47 tag of a stream's language tag (ISO 639-2 "eng" -> "en", "fre" -> "fr"); "und" when
    absent or not a language ("xyz", garbage)."""
    if not tag or not tag.strip():
        return "und"
    try:
        language = langcodes.Language.get(tag.strip())
        if not language.is_valid() or language.language is None:
            return "und"
        return str(language.to_tag())
    except (langcodes.LanguageTagError, ValueError):
        return "und"


def language_name(tag: str) -> str:
    """A language's name in that language ("fr" -> "Français"), for labels; "Audio" for "und"."""
    if tag == "und":
        return "Audio"
    try:
        name = str(langcodes.Language.get(tag).autonym())
    except (langcodes.LanguageTagError, ValueError, LookupError):
        return tag
    return name[:1].upper() + name[1:]


def _role(track: AudioTrackInfo, first_of_language: bool) -> str:
    if track.descriptive:
        return "description"
    if track.commentary:
        return "commentary"
    return "main" if first_of_language else "alternate"


def _default_index(tracks: Sequence[AudioTrackInfo]) -> int:
    """The track players start with: flagged default and not an extra (commentary, description), else the
    first that is not an extra, else the first."""
    plain = [t for t in tracks if not (t.commentary or t.descriptive)]
    for candidates in ([t for t in plain if t.default], plain, list(tracks)):
        if candidates:
            return candidates[0].index
    return 0


def _labels(tracks: Sequence[AudioTrackInfo], languages: Sequence[str], roles: Sequence[str]) -> list[str]:
    """Title tag, else language name (+ role for extras); made unique with a number (HLS NAME must be
    unique in its group)."""
    labels = []
    for track, language, role in zip(tracks, languages, roles, strict=True):
        label = " ".join((track.title or "").split())[:MAX_LABEL]
        if not label:
            label = language_name(language)
            if role == "commentary":
                label += " (commentary)"
            elif role == "description":
                label += " (audio description)"
        labels.append(label)
    unique: list[str] = []
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
        candidate = f"{label} {counts[label]}" if labels.count(label) > 1 else label
        while candidate in unique:  # "English 2" was also somebody's title
            counts[label] += 1
            candidate = f"{label} {counts[label]}"
        unique.append(candidate)
    return unique


def plan_audio(
    tracks: Sequence[AudioTrackInfo],
    *,
    stereo_bitrate: int = STEREO_BITRATE,
    multichannel_bitrate: int = MULTICHANNEL_BITRATE,
    low_bitrate: int | None = None,
) -> tuple[AudioRendition, ...]:
    """The audio renditions of a source with these audio streams: stereo ones in source order (the
    default track's named "audio"), then the 5.1 ones; with `low_bitrate` (audio-only assets), then a
    stereo rendition of every track at that rate ("audio-64k", "audio-1-64k"), in group LOW_GROUP."""
    if not tracks:
        return ()
    default = _default_index(tracks)
    languages = [bcp47(t.language) for t in tracks]
    seen: set[str] = set()
    roles = []
    for track, language in zip(tracks, languages, strict=True):
        extra = track.commentary or track.descriptive
        roles.append(_role(track, not extra and language not in seen))
        if not extra:
            seen.add(language)
    labels = _labels(tracks, languages, roles)
    stereo, multi, low = [], [], []
    for track, language, role, label in zip(tracks, languages, roles, labels, strict=True):
        name = STEREO_NAME if track.index == default else f"{STEREO_NAME}-{track.index}"
        common: dict[str, Any] = {
            "source_index": track.index,
            "language": language,
            "default": track.index == default,
            # A commentary is never picked for the viewer: only chosen by hand.
            "autoselect": role != "commentary",
            "role": role,
            "characteristics": DESCRIBES_VIDEO if role == "description" else None,
        }
        stereo.append(AudioRendition(name=name, channels=2, bitrate=stereo_bitrate, label=label, **common))
        if track.channels >= MULTICHANNEL_CHANNELS:
            multi.append(
                AudioRendition(
                    name=f"{name}-51",
                    channels=MULTICHANNEL_CHANNELS,
                    bitrate=multichannel_bitrate,
                    label=f"{label} 5.1",
                    group=MULTICHANNEL_GROUP,
                    **common,
                )
            )
        if low_bitrate is not None:
            low.append(
                AudioRendition(
                    name=f"{name}{LOW_SUFFIX}",
                    channels=2,
                    bitrate=low_bitrate,
                    label=label,
                    group=LOW_GROUP,
                    **common,
                )
            )
    return (*stereo, *multi, *low)


def without_tracks(renditions: Sequence[AudioRendition], sources: Sequence[int]) -> tuple[AudioRendition, ...]:
    """The renditions but those of the source streams `sources` (which do not decode). The default
    passes to the first remaining stereo rendition when its track is one of them, named "audio" then."""
    kept = [r for r in renditions if r.source_index not in sources]
    if not kept or any(r.default for r in kept):
        return tuple(kept)
    first = kept[0].source_index
    return tuple(
        replace(r, default=True, autoselect=True, name=STEREO_NAME + r.name.removeprefix(f"{STEREO_NAME}-{first}"))
        if r.source_index == first
        else r
        for r in kept
    )


def with_loudnorm(
    renditions: Sequence[AudioRendition], measured: dict[str, Loudness], target: LoudnessTarget
) -> tuple[AudioRendition, ...]:
    """The renditions with their normalisation from their measurement (by rendition name: the source
    stream downmixed as the rendition carries it): a linear gain where one does, else loudnorm's options."""
    return tuple(
        replace(r, gain=linear_gain(measured[r.name], target), loudnorm=normalise_options(measured[r.name], target))
        if r.name in measured
        else r
        for r in renditions
    )


def known_output(rendition: AudioRendition, measured: dict[str, Loudness]) -> Loudness | None:
    """The published rendition's loudness where it follows from the source's measurement: that plus the
    linear gain applied, or the measurement itself where nothing was applied (normalisation off, silence).
    The AAC encode moves the integrated loudness by a few hundredths of a LU (tests/transcoder/test_loudness.py
    measures it). None where it has to be measured: after loudnorm's dynamic mode, or with no measurement."""
    source = measured.get(rendition.name)
    if source is None or rendition.loudnorm:
        return None
    return source if rendition.gain is None else after_gain(source, rendition.gain)


def _loudness_record(value: Loudness | None) -> dict[str, float | None] | None:
    if value is None:
        return None
    return {"integrated": value.integrated, "true_peak": value.true_peak, "lra": value.lra}


def track_records(
    renditions: Sequence[AudioRendition], measured: dict[str, Loudness], output: Sequence[Loudness | None]
) -> list[dict[str, Any]]:
    """What the asset records of each published audio track (the asset API's audio_tracks)."""
    return [
        {
            "name": r.name,
            "language": r.language,
            "label": r.label,
            "channels": r.channels,
            "default": r.default,
            "role": r.role,
            "normalised": r.normalised,
            "input_loudness": _loudness_record(measured.get(r.name)),
            "output_loudness": _loudness_record(out),
        }
        for r, out in zip(renditions, output, strict=True)
    ]
