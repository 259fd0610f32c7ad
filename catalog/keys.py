"""API keys and their principals in the catalog (blocking: call from worker threads in async code).

A key is `vsk_` + 43 url-safe characters (256 random bits). Only its SHA-256 is stored: a lookup hashes
the presented key and finds the row by that hash, so the catalog never holds a usable secret.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select

from catalog.models import ApiKey, Principal
from catalog.session import Catalog

SCOPES = ("upload", "read", "admin")
KEY_PREFIX = "vsk_"


class KeyRefused(Exception):
    """A key operation the catalog refuses (unknown scope, name taken, no such key)."""


@dataclass(frozen=True)
class KeyRecord:
    id: str
    name: str
    owner: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_scopes(text: str) -> frozenset[str]:
    """`upload,read` -> {"upload", "read"}; KeyRefused for an empty list or an unknown scope."""
    scopes = frozenset(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = sorted(scopes - set(SCOPES))
    if unknown or not scopes:
        raise KeyRefused(f"scopes must be a comma-separated subset of {','.join(SCOPES)}; got {text!r}")
    return scopes


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # SQLite drops the zone


def _record(row: ApiKey) -> KeyRecord:
    return KeyRecord(
        id=row.id,
        name=row.name,
        owner=row.owner,
        scopes=frozenset(s for s in row.scopes.split(",") if s),
        created_at=_utc(row.created_at),
        revoked_at=None if row.revoked_at is None else _utc(row.revoked_at),
    )


def create_key(catalog: Catalog, name: str, scopes: frozenset[str], owner: str) -> tuple[KeyRecord, str]:
    """Create a key (and its owner if new); return its record and the key itself, which is not kept."""
    name, owner = name.strip(), owner.strip()
    if not name or len(name) > 128 or not owner or len(owner) > 128:
        raise KeyRefused("name and owner must be 1 to 128 characters")
    if not scopes or not scopes <= set(SCOPES):
        raise KeyRefused(f"scopes must be a non-empty subset of {','.join(SCOPES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with catalog.session() as session:
        if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
            raise KeyRefused(f"a key named {name!r} exists already")
        if session.get(Principal, owner) is None:
            session.add(Principal(name=owner))
            session.flush()
        row = ApiKey(name=name, secret_sha256=hash_key(key), scopes=",".join(sorted(scopes)), owner=owner)
        session.add(row)
        session.flush()
        return _record(row), key


def list_keys(catalog: Catalog) -> list[KeyRecord]:
    with catalog.session() as session:
        return [_record(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.name))]


def revoke_key(catalog: Catalog, name_or_id: str) -> KeyRecord:
    """Revoke the key with this name or id (at once: every request looks its key up). KeyRefused if none."""
    with catalog.session() as session:
        row = session.scalar(select(ApiKey).where(or_(ApiKey.name == name_or_id, ApiKey.id == name_or_id)))
        if row is None:
            raise KeyRefused(f"no key named {name_or_id!r}")
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
        return _record(row)


def find_key(catalog: Catalog, key: str) -> KeyRecord | None:
    """The live (unrevoked) key whose secret is `key`, or None."""
    if not key.startswith(KEY_PREFIX):
        return None
    with catalog.session() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.secret_sha256 == hash_key(key), ApiKey.revoked_at.is_(None)))
        return None if row is None else _record(row)
