"""Engine, sessions and migrations for the catalog."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import CursorResult, Engine, Update, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from catalog.settings import CatalogSettings

ALEMBIC_DIR = Path(__file__).parent / "alembic"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # WAL lets the ingest API, workers and origin read while one of them writes.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def migrate(url: str) -> None:
    """Bring the schema to the newest Alembic revision (safe to call from every process on start)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    engine = make_engine(url)
    lock = _sqlite_migration_lock(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Several processes start at once: serialise their migrations.
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()
        if lock is not None:
            lock.close()  # releases the flock


def _sqlite_migration_lock(url: str) -> IO[bytes] | None:
    """Several processes starting at once on one SQLite file: serialise their migrations with a
    file lock beside the database (SQLite has no advisory locks; PostgreSQL uses its own below)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1]
    if not path or path == ":memory:":
        return None
    handle = open(f"{path}.migrate-lock", "ab")  # noqa: SIM115 - closed by migrate()
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    return handle


class Catalog:
    """The catalog of one process: an engine and a session factory."""

    def __init__(self, settings: CatalogSettings, *, apply_migrations: bool = True) -> None:
        if apply_migrations:
            migrate(settings.url)
        self.engine = make_engine(settings.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def rows_updated(session: Session, statement: Update) -> int:
    """Run an UPDATE; how many rows it changed (conditional updates as compare-and-set)."""
    return cast(CursorResult[Any], session.execute(statement)).rowcount
