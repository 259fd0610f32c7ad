"""The tier bookkeeping of lifecycle tiering (storage/tiering.py): one SQLite file beside the data,
shared by the origin (records reads, starts restores) and the beat worker (moves tiers), with the
transition and restore counters that feed metrics in whichever process is scraped.
"""

from __future__ import annotations

import contextlib
import enum
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path


class Tier(enum.Enum):
    HOT = "hot"
    WARM = "warm"
    COLD = "cold"


class TierIndex:
    """Tier bookkeeping per object, plus transition and restore counters (for metrics in any process)."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS objects (
        bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, tier TEXT NOT NULL,
        created_at REAL NOT NULL, last_access REAL NOT NULL,
        restore_ready_at REAL, restored_until REAL,
        PRIMARY KEY (bucket, key));
    CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    """

    def __init__(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
        self.lock = threading.Lock()
        with self.lock:
            self.db.execute("PRAGMA journal_mode=WAL")
            # Losing the last few last-access updates in a power cut is harmless; an fsync per read is not.
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(self.SCHEMA)

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE: the read-check-write of a restore must not race another process's.
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except Exception:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def bump(self, db: sqlite3.Connection, name: str, by: int = 1) -> None:
        db.execute(
            "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?", (name, by, by)
        )

    def counters(self) -> dict[str, int]:
        with self.lock:
            return dict(self.db.execute("SELECT name, value FROM counters").fetchall())

    def tier_of(self, bucket: str, key: str) -> Tier | None:
        with self.lock:
            row = self.db.execute("SELECT tier FROM objects WHERE bucket=? AND key=?", (bucket, key)).fetchone()
        return Tier(row[0]) if row else None

    def totals(self) -> dict[Tier, tuple[int, int]]:
        with self.lock:
            rows = self.db.execute("SELECT tier, COUNT(*), COALESCE(SUM(size), 0) FROM objects GROUP BY tier")
            found = {Tier(t): (n, b) for t, n, b in rows.fetchall()}
        return {tier: found.get(tier, (0, 0)) for tier in Tier}

    def archived_prefixes(self, bucket: str, prefixes: list[str], now: float) -> set[str]:
        """The prefixes holding an object that is cold with no readable copy (restored or ready)."""
        archived = set()
        with self.lock:
            for prefix in prefixes:
                row = self.db.execute(
                    "SELECT 1 FROM objects WHERE bucket=? AND key >= ? AND key < ? AND tier='cold' "
                    "AND NOT COALESCE(restored_until > ?, 0) AND NOT COALESCE(restore_ready_at <= ?, 0) LIMIT 1",
                    (bucket, prefix, prefix + "\uffff", now, now),
                ).fetchone()
                if row:
                    archived.add(prefix)
        return archived

    def restore_prefix(self, bucket: str, prefix: str, now: float, restore_seconds: float) -> int:
        """Start a restore of every archived object under `prefix` not already being restored."""
        with self.tx() as db:
            cur = db.execute(
                "UPDATE objects SET restore_ready_at=?, restored_until=NULL WHERE bucket=? AND key >= ? AND key < ? "
                "AND tier='cold' AND restore_ready_at IS NULL AND NOT COALESCE(restored_until > ?, 0)",
                (now + restore_seconds, bucket, prefix, prefix + "\uffff", now),
            )
            if cur.rowcount:
                self.bump(db, "restores", cur.rowcount)
            return cur.rowcount

    def close(self) -> None:
        self.db.close()
