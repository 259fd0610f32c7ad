"""Versions of a creator's poster: where each is published, which one is current, which are retired
and when they may go. Pure: values in, values out (ingest.posters does the I/O).

Every version lives under a key of its own, `<asset>/posters/<version>/<width>.<ext>`, where the
version is a hash of the uploaded bytes (and of what was made of them), so its objects never change
once published and edges may keep them forever (Cache-Control: immutable). Replacing a poster
publishes a new version and changes the URLs the asset API returns: no edge is asked to purge
anything. The version replaced is retired, and its objects are deleted a grace period later (a page or
an API answer read a moment before the change still points at them), never while it is current again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

FOLDER = "posters"
# Changes when the variants made of the same bytes change (encoders, options): a new version then.
RENDER_REVISION = "1"


@dataclass(frozen=True)
class Retired:
    version: str
    retired_at: datetime


def version_of(data: bytes, widths: Sequence[int], formats: Sequence[str]) -> str:
    """The version of a poster made of `data` with these widths and formats: 20 hex digits of SHA-256."""
    digest = hashlib.sha256()
    digest.update(f"{RENDER_REVISION}|{','.join(map(str, widths))}|{','.join(formats)}|".encode())
    digest.update(data)
    return digest.hexdigest()[:20]


def version_prefix(asset_id: str, version: str) -> str:
    return f"{asset_id}/{FOLDER}/{version}/"


def variant_key(asset_id: str, version: str, file: str) -> str:
    return version_prefix(asset_id, version) + file


def retired_list(raw: list[dict[str, Any]] | None) -> list[Retired]:
    return [Retired(str(r["version"]), datetime.fromisoformat(str(r["retired_at"]))) for r in raw or []]


def retired_raw(retired: Sequence[Retired]) -> list[dict[str, Any]] | None:
    return [{"version": r.version, "retired_at": r.retired_at.isoformat()} for r in retired] or None


def replace(current: str | None, retired: Sequence[Retired], new: str | None, now: datetime) -> list[Retired]:
    """The retired versions once `new` (None: no creator poster) replaces `current`: the current one
    joins them (unless it stays), and `new` leaves them if it was retired before (uploaded again)."""
    kept = [r for r in retired if r.version != new and r.version != current]
    if current is not None and current != new:
        kept.append(Retired(current, now))
    return kept


def due(retired: Sequence[Retired], current: str | None, now: datetime, grace: timedelta) -> list[Retired]:
    """The retired versions whose objects may be deleted now: retired for longer than `grace`, and not
    the current version (a version uploaded again is current, whatever the list still says)."""
    return [r for r in retired if r.version != current and now - r.retired_at >= grace]
