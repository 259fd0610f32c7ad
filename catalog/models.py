"""Catalog tables. Every schema change comes with an Alembic revision in catalog/alembic/versions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class UploadState:
    OPEN = "open"  # accepting PATCHes
    COMPLETE = "complete"  # all bytes received, original staged
    TERMINATED = "terminated"  # deleted by the client (termination extension)
    EXPIRED = "expired"  # reclaimed by the cleanup


class AssetState:
    UPLOADING = "uploading"
    IMPORTING = "importing"  # POST /assets with a source URL: a worker is downloading it (importer/)
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"
    DELETED = "deleted"


class JobState:
    QUEUED = "queued"
    RUNNING = "running"
    # A split-and-stitch job whose parts are encoding on other workers; the last part to finish
    # puts it back to QUEUED and queues it again to join them.
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Upload(Base):
    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    state: Mapped[str] = mapped_column(String(16), default=UploadState.OPEN, index=True)
    # Declared total length; None while the length is deferred (creation-defer-length).
    length: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Bytes durably received. The storage backend is the source of truth; this mirrors it.
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    # Upload-Metadata, decoded (values are text or None).
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Concatenation extension: "partial", "final" or None.
    concat: Mapped[str | None] = mapped_column(String(16), nullable=True)
    concat_parts: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Backend bookkeeping (e.g. S3 multipart upload id); opaque to everything but the ingest store.
    store_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    staging_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    asset_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Asset(Base):
    __tablename__ = "assets"
    # Keyset pagination of GET /assets walks (created_at, id).
    __table_args__ = (Index("ix_assets_created_at_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    state: Mapped[str] = mapped_column(String(16), default=AssetState.UPLOADING, index=True)
    title: Mapped[str | None] = mapped_column(String(512), nullable=True)
    upload_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    staging_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    # Transcode progress in [0, 1], speed as media seconds per wall second, ETA in seconds.
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    speed: Mapped[float | None] = mapped_column(Float, nullable=True)
    eta_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Probe results.
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    probe: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Loudness normalisation of this asset's audio: None follows the workers' setting, False turns it off
    # (upload metadata "loudnorm: off").
    loudnorm: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # The published audio tracks with their measured loudness (transcoder.encode.audio_report).
    audio_tracks: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    # The content-aware ladder's sample measurements (transcoder.encode.fitted); None: the fixed ladder.
    ladder_analysis: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Key of the multivariant playlist in the media bucket, once something is playable.
    master_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    dash_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    public: Mapped[bool] = mapped_column(Boolean, default=True)  # visibility "public" (else "private")
    # Set by the creator through PATCH /assets/{id} (ingest/asset_edit.py bounds them).
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    tags: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    # Where an imported asset came from (POST /assets with a source URL); None for uploads.
    source_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    # MP4/M4A downloads for this asset: None follows VODSTACK_TRANSCODER_MP4_DOWNLOADS (Upload-Metadata
    # "mp4_downloads" sets it); the published ones, each {name, kind, key, size, duration, width, height}.
    mp4_downloads: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    downloads: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    # Name of the principal whose key created it (None: made before owners existed; admin keys only).
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(nullable=True)
    first_playable_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The creator's poster (ingest.posters): {"version": content hash, "variants": [...]}; None: the
    # generated poster. Versions replaced or deleted, kept for a grace period: [{"version", "retired_at"}].
    poster: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    poster_retired: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True), nullable=True)

    renditions: Mapped[list[Rendition]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", order_by="Rendition.bandwidth"
    )
    jobs: Mapped[list[Job]] = relationship(back_populates="asset", cascade="all, delete-orphan")


class Rendition(Base):
    __tablename__ = "renditions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))  # e.g. "360p", "audio"
    kind: Mapped[str] = mapped_column(String(8))  # "video" or "audio"
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    frame_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    codecs: Mapped[str | None] = mapped_column(String(128), nullable=True)
    target_bitrate: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Measured: peak per RFC 8216 4.3.4.2 and average, bits per second.
    bandwidth: Mapped[int | None] = mapped_column(Integer, nullable=True)
    average_bandwidth: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Content-aware ladders: the VMAF step the rung was chosen for, and what its samples measured.
    target_vmaf: Mapped[float | None] = mapped_column(Float, nullable=True)
    sampled_vmaf: Mapped[float | None] = mapped_column(Float, nullable=True)
    playlist_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    asset: Mapped[Asset] = relationship(back_populates="renditions")


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32), default="transcode")
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(255), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Why it failed, as a short stable code for metrics ("invalid_media", "timeout", ...).
    error_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    deadline_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Split-and-stitch: a part (kind "transcode_part") names the job it belongs to, its position
    # among that job's parts and what it encodes (transcoder.split.chunks.PartSpec as JSON).
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), nullable=True, index=True)
    part: Mapped[int | None] = mapped_column(Integer, nullable=True)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    asset: Mapped[Asset] = relationship(back_populates="jobs")


class UploadLock(Base):
    """Per-upload lease shared by several ingest processes (ingest lock_backend = "catalog")."""

    __tablename__ = "upload_locks"

    upload_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    # Unix time after which the lease is void (its holder died or stalled).
    expires_at: Mapped[float] = mapped_column(Float)
    # Set by a request that wants the upload; the holder hands over at its next chunk boundary.
    release_requested: Mapped[bool] = mapped_column(Boolean, default=False)


class Principal(Base):
    """Someone who owns uploads and assets; API keys act on their owner's behalf."""

    __tablename__ = "principals"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    keys: Mapped[list[ApiKey]] = relationship(back_populates="principal")


class ApiKey(Base):
    """An API key: only the SHA-256 of its secret is kept (the secret is shown once, at creation)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    # Hex SHA-256 of the whole key. Keys are 256-bit random, so a plain hash is enough (no slow KDF).
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # Comma-separated subset of upload, read, admin.
    scopes: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(ForeignKey("principals.name"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)

    principal: Mapped[Principal] = relationship(back_populates="keys")


# Object keys compare byte by byte (prefix ranges: every object of a rung), whatever the server's locale.
_BYTEWISE_KEY = String(1024).with_variant(String(1024, collation="C"), "postgresql")


class TierObject(Base):
    """The lifecycle tier of one stored object (tiering/): one index for every origin and the beat
    worker. Times are Unix seconds from the caller's clock."""

    __tablename__ = "tier_objects"

    bucket: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(_BYTEWISE_KEY, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    tier: Mapped[str] = mapped_column(String(8), index=True)  # "hot", "warm", "cold"
    created_at: Mapped[float] = mapped_column(Float)
    last_access: Mapped[float] = mapped_column(Float)
    # A restore of a cold object in progress (readable from then), or the restored copy's expiry.
    restore_ready_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    restored_until: Mapped[float | None] = mapped_column(Float, nullable=True)


class TierCounter(Base):
    """Tier transitions and restores so far, by name ("transitions:hot:warm", "restores"): metrics in
    whichever process is scraped, whichever process made them."""

    __tablename__ = "tier_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
