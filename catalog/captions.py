"""Caption tracks of an asset: uploaded, found in the source, or generated from speech.

The normalised WebVTT lives in the row (at most a few MB, captions.cues.Limits): a track uploaded before
the asset is ready waits here, and every republish (a new attempt, a replaced or deleted track) renders the
published objects from it. `version` grows on every change and is part of the published URLs, so a cached
multivariant playlist or MPD never names a file whose content changed under it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models import Base, new_id, utcnow


class CaptionTrack(Base):
    __tablename__ = "caption_tracks"
    __table_args__ = (
        UniqueConstraint("asset_id", "language", "source", name="uq_caption_tracks_asset_language_source"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    language: Mapped[str] = mapped_column(String(35))  # BCP 47, canonical case
    # "upload", "embedded-<stream index>" (a text stream of the source) or "generated" (speech recognition)
    source: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # "subtitles" | "captions"
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    vtt: Mapped[str] = mapped_column(Text)
    cue_count: Mapped[int] = mapped_column(Integer)
    # Key of the segmented playlist last published for this track (None: not published yet); a change is
    # what the captions.ready webhook reports.
    published_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CaptionSettings(Base):
    """Per-asset caption options; an asset without a row has the defaults."""

    __tablename__ = "caption_settings"

    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    # Generate a track from speech once the ladder is ready (where a model is installed).
    generate: Mapped[bool] = mapped_column(Boolean, default=True)
