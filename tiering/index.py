"""The tier index: each object's tier, last read and restore state, and the transition and restore
counters, in the catalog (catalog.models.TierObject, TierCounter), so every origin and the beat worker
share one. Whatever must happen once however many origins see it (a restore started, a warm object
read back to hot, a restore found finished) is a conditional UPDATE whose row count says whether this
process made the change; only that process counts it.

Blocking (database calls): from async code, call through a thread.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, Update, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from catalog.models import TierCounter, TierObject
from catalog.session import Catalog

DAY = 86_400.0
# How stale a recorded last read may be (S3 Intelligent-Tiering also tracks access in days).
ACCESS_RESOLUTION = 3600.0

OBJECTS = cast(Table, TierObject.__table__)
COUNTERS = cast(Table, TierCounter.__table__)


class Tier(enum.Enum):
    HOT = "hot"
    WARM = "warm"
    COLD = "cold"


def _insert(session: Session) -> Any:
    """INSERT with ON CONFLICT for the catalog's dialect (the catalog is SQLite or PostgreSQL)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _one(bucket: str, key: str) -> ColumnElement[bool]:
    return and_(OBJECTS.c.bucket == bucket, OBJECTS.c.key == key)


def _under(bucket: str, prefix: str) -> ColumnElement[bool]:
    """Every key starting with `prefix` (non-empty): a range, so the primary key's index serves it."""
    after = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # the first string past every one with this prefix
    return and_(OBJECTS.c.bucket == bucket, OBJECTS.c.key >= prefix, OBJECTS.c.key < after)


def _archived(now: float) -> ColumnElement[bool]:
    """Cold with no readable copy: neither restored nor with a finished restore."""
    return and_(
        OBJECTS.c.tier == Tier.COLD.value,
        or_(OBJECTS.c.restored_until.is_(None), OBJECTS.c.restored_until <= now),
        or_(OBJECTS.c.restore_ready_at.is_(None), OBJECTS.c.restore_ready_at > now),
    )


class TierIndex:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def _changed(self, session: Session, statement: Update) -> int:
        return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]

    def _bump(self, session: Session, name: str, by: int = 1) -> None:
        insert = _insert(session)(COUNTERS).values(name=name, value=by)
        session.execute(insert.on_conflict_do_update(index_elements=["name"], set_={"value": COUNTERS.c.value + by}))

    # -- what the object store reports ----------------------------------------------------------
    def record_write(self, bucket: str, key: str, size: int, now: float) -> None:
        """A new object (or a new version of one): hot, just read."""
        fresh = {"size": size, "tier": Tier.HOT.value, "created_at": now, "last_access": now,
                 "restore_ready_at": None, "restored_until": None}  # fmt: skip
        with self.catalog.session() as session:
            insert = _insert(session)(OBJECTS).values(bucket=bucket, key=key, **fresh)
            session.execute(insert.on_conflict_do_update(index_elements=["bucket", "key"], set_=fresh))

    def forget(self, bucket: str, key: str) -> None:
        with self.catalog.session() as session:
            session.execute(OBJECTS.delete().where(_one(bucket, key)))

    def record_read(
        self,
        bucket: str,
        key: str,
        now: float,
        *,
        restore_seconds: float,
        restored_days: float,
        adopt: Callable[[], tuple[int, float]],
    ) -> float | None:
        """A read of `key`: None when it may be read, else the time its restore will be ready (this
        read starts the restore when none is in progress). `adopt` gives (size, created_at) of an
        object the index does not know (published before tiering was on): it becomes hot."""
        with self.catalog.session() as session:
            row = session.execute(
                select(OBJECTS.c.tier, OBJECTS.c.restore_ready_at, OBJECTS.c.restored_until, OBJECTS.c.last_access)
                .where(_one(bucket, key))
            ).first()  # fmt: skip
            if row is None:
                size, created_at = adopt()
                insert = _insert(session)(OBJECTS).values(
                    bucket=bucket, key=key, size=size, tier=Tier.HOT.value, created_at=created_at, last_access=now
                )
                session.execute(insert.on_conflict_do_nothing())
                return None
            tier, ready_at, restored_until, last_access = Tier(row[0]), row[1], row[2], row[3]
            if tier is Tier.HOT and now - last_access < ACCESS_RESOLUTION:
                return None  # policies count idle days: a write per read would buy nothing
            if tier is not Tier.COLD:
                moved = self._changed(
                    session,
                    update(OBJECTS).where(_one(bucket, key), OBJECTS.c.tier == tier.value)
                    .values(tier=Tier.HOT.value, last_access=now),
                )  # fmt: skip
                if tier is Tier.WARM and moved:
                    self._bump(session, "transitions:warm:hot")
                return None
            if restored_until is not None and now < restored_until:
                session.execute(update(OBJECTS).where(_one(bucket, key)).values(last_access=now))
                return None
            if ready_at is not None and now >= ready_at:  # the restore finished: a copy for restored_days
                session.execute(
                    update(OBJECTS).where(_one(bucket, key), OBJECTS.c.restore_ready_at == ready_at)
                    .values(restore_ready_at=None, restored_until=now + restored_days * DAY, last_access=now)
                )  # fmt: skip
                return None
            if ready_at is not None:
                return float(ready_at)
            # The first read since it went cold: exactly one restore, whichever origin gets here first.
            ready_at = now + restore_seconds
            started = self._changed(
                session,
                update(OBJECTS).where(_one(bucket, key), _archived(now), OBJECTS.c.restore_ready_at.is_(None))
                .values(restore_ready_at=ready_at, restored_until=None),
            )  # fmt: skip
            if started:
                self._bump(session, "restores")
                return ready_at
        # Another origin started the restore (or it changed otherwise) meanwhile: what it is now.
        return self.record_read(
            bucket, key, now, restore_seconds=restore_seconds, restored_days=restored_days, adopt=adopt
        )

    # -- the lifecycle ------------------------------------------------------------------------
    def transition(self, now: float, warm_after_days: float, cold_after_days: float) -> dict[str, int]:
        """Idle objects move down a tier; expired restored copies lapse. Returns the moves made."""
        moves = {
            "warm:cold": (Tier.WARM, Tier.COLD, now - cold_after_days * DAY),
            "hot:warm": (Tier.HOT, Tier.WARM, now - warm_after_days * DAY),
        }
        done: dict[str, int] = {}
        with self.catalog.session() as session:
            # warm -> cold first, so one run never moves an object two tiers at once.
            for name, (src, dst, idle_since) in moves.items():
                moved = self._changed(
                    session,
                    update(OBJECTS).where(OBJECTS.c.tier == src.value, OBJECTS.c.last_access < idle_since)
                    .values(tier=dst.value, restore_ready_at=None, restored_until=None),
                )  # fmt: skip
                if moved:
                    done[name] = moved
                    self._bump(session, f"transitions:{name}", moved)
            session.execute(update(OBJECTS).where(OBJECTS.c.restored_until <= now).values(restored_until=None))
        return done

    def archived_prefixes(self, bucket: str, prefixes: list[str], now: float) -> set[str]:
        """The prefixes holding an object that is cold with no readable copy (restored or ready)."""
        archived = set()
        with self.catalog.session() as session:
            for prefix in prefixes:
                found = session.execute(select(OBJECTS.c.key).where(_under(bucket, prefix), _archived(now)).limit(1))
                if found.first() is not None:
                    archived.add(prefix)
        return archived

    def restore_prefix(self, bucket: str, prefix: str, now: float, restore_seconds: float) -> int:
        """Start a restore of every archived object under `prefix` not already being restored."""
        with self.catalog.session() as session:
            started = self._changed(
                session,
                update(OBJECTS).where(_under(bucket, prefix), _archived(now), OBJECTS.c.restore_ready_at.is_(None))
                .values(restore_ready_at=now + restore_seconds, restored_until=None),
            )  # fmt: skip
            if started:
                self._bump(session, "restores", started)
            return started

    # -- reports --------------------------------------------------------------------------------
    def tier_of(self, bucket: str, key: str) -> Tier | None:
        with self.catalog.session() as session:
            tier = session.execute(select(OBJECTS.c.tier).where(_one(bucket, key))).scalar()
        return Tier(tier) if tier is not None else None

    def totals(self) -> dict[Tier, tuple[int, int]]:
        """Objects and bytes per tier."""
        query = select(OBJECTS.c.tier, func.count(), func.coalesce(func.sum(OBJECTS.c.size), 0)).group_by(
            OBJECTS.c.tier
        )
        with self.catalog.session() as session:
            found = {Tier(t): (int(n), int(b)) for t, n, b in session.execute(query)}
        return {tier: found.get(tier, (0, 0)) for tier in Tier}

    def counters(self) -> dict[str, int]:
        with self.catalog.session() as session:
            return {name: int(value) for name, value in session.execute(select(COUNTERS.c.name, COUNTERS.c.value))}
