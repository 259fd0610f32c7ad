"""Which assets GET /assets lists: filters and the opaque cursor of keyset pagination (pure, no I/O).

Pages are ordered newest first by (created_at, id). A cursor names the last asset of the page it
follows, so the next page starts strictly after it: assets created meanwhile sort before the first
page and never shift or repeat the pages after it (offset pagination would).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, and_, or_, select

from catalog.models import Asset, AssetState
from ingest.errors import TusError

CURSOR_VERSION = 1
MAX_CURSOR_LENGTH = 512
MAX_SEARCH_LENGTH = 100  # characters of a title search (GET /assets?q=); titles hold at most 512


@dataclass(frozen=True)
class Position:
    created_at: datetime
    id: str


@dataclass(frozen=True)
class AssetFilter:
    state: str | None = None
    created_after: datetime | None = None  # exclusive
    created_before: datetime | None = None  # exclusive
    owner: str | None = None  # None: every owner the key may see
    search: str | None = None  # case-insensitive substring of the title or description; % and _ literal


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def encode_cursor(position: Position) -> str:
    raw = json.dumps({"v": CURSOR_VERSION, "t": _aware(position.created_at).isoformat(), "i": position.id})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names; TusError("invalid-cursor") for anything this server did not make."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise TusError("invalid-cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
            raise ValueError("unknown cursor version")
        created_at, asset_id = datetime.fromisoformat(data["t"]), data["i"]
        if not isinstance(asset_id, str) or not asset_id or len(asset_id) > 64:
            raise ValueError("bad asset id")
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise TusError("invalid-cursor") from None
    return Position(_aware(created_at), asset_id)


def _naive_utc(value: datetime) -> datetime:
    # SQLite stores our UTC times without their zone; PostgreSQL compares aware values either way.
    return _aware(value).astimezone(UTC).replace(tzinfo=None)


def list_query(flt: AssetFilter, after: Position | None, limit: int, *, dialect: str) -> Select[Asset]:
    """SELECT of one page (`limit` rows) of the assets matching `flt`, after `after`."""

    def when(value: datetime) -> datetime:
        return _naive_utc(value) if dialect == "sqlite" else _aware(value)

    query = select(Asset).where(Asset.state != AssetState.DELETED)
    if flt.owner is not None:
        query = query.where(Asset.owner == flt.owner)
    if flt.state is not None:
        query = query.where(Asset.state == flt.state)
    if flt.created_after is not None:
        query = query.where(Asset.created_at > when(flt.created_after))
    if flt.created_before is not None:
        query = query.where(Asset.created_at < when(flt.created_before))
    if flt.search:
        # icontains with autoescape: SQLAlchemy escapes %, _ and its escape character, so they match
        # themselves; lower() on both sides (PostgreSQL folds all of Unicode, SQLite ASCII only).
        # A substring needs a scan of the owner's rows (no index serves a leading wildcard): bounded
        # by the page's LIMIT once enough rows match, by the owner's asset count when few do.
        query = query.where(
            or_(
                Asset.title.icontains(flt.search, autoescape=True),
                Asset.description.icontains(flt.search, autoescape=True),
            )
        )
    if after is not None:
        at = when(after.created_at)
        query = query.where(or_(Asset.created_at < at, and_(Asset.created_at == at, Asset.id < after.id)))
    return query.order_by(Asset.created_at.desc(), Asset.id.desc()).limit(limit)
