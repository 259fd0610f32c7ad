"""What describes a caption track besides its cues: language (BCP 47), label, kind, flags. Pure.

The language tag is checked and put in canonical case by langcodes (a well-kept IETF tag library with the
IANA registry inside; no data download): "EN-us" becomes "en-US", "english" or "en_US!" are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import langcodes

from captions.errors import InvalidLanguage, InvalidTrackOptions

_TAG_CHARS = re.compile(r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*")
KINDS = ("captions", "subtitles")
MAX_LABEL = 100
GENERATED_SUFFIX = " (generated)"

# Where a track came from; one track per (language, source) on an asset.
UPLOADED = "upload"
EMBEDDED = "embedded"  # a text stream of the source; "embedded-<stream index>"
GENERATED = "generated"  # speech recognition


def canonical_language(tag: str) -> str:
    """The tag in canonical form, or InvalidLanguage."""
    # langcodes also reads "en_US"; a tag in a URL and a manifest must be the hyphenated form.
    if not _TAG_CHARS.fullmatch(tag) or len(tag) > 35 or not langcodes.tag_is_valid(tag):
        raise InvalidLanguage(f"{tag[:40]!r} is not a BCP 47 language tag (e.g. en, en-US, pt-BR, zh-Hant)")
    return str(langcodes.standardize_tag(tag))


def default_label(language: str) -> str:
    """The label of a track uploaded without one: the tag itself (names need langcodes' optional data
    package, which is 40 MB for a default the creator can override)."""
    return language


@dataclass(frozen=True)
class TrackOptions:
    label: str
    kind: str = "subtitles"
    default: bool = False
    forced: bool = False


def track_options(
    language: str, *, label: str | None, kind: str | None, default: bool = False, forced: bool = False
) -> TrackOptions:
    """Checked options: kind one of KINDS, a label of printable text (the language's name when absent)."""
    kind = kind or "subtitles"
    if kind not in KINDS:
        raise InvalidTrackOptions(f"kind must be one of {', '.join(KINDS)}, not {kind[:40]!r}")
    label = (label or "").strip() or default_label(language)
    if len(label) > MAX_LABEL or not label.isprintable() or '"' in label:
        raise InvalidTrackOptions(f"the label must be at most {MAX_LABEL} printable characters without '\"'")
    return TrackOptions(label=label, kind=kind, default=default, forced=forced)
