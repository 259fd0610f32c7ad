"""API keys in the catalog: shown once, stored hashed, revoked at once; migration 0004 keeps old rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

from catalog.keys import KeyRefused, create_key, find_key, list_keys, parse_scopes, revoke_key
from catalog.models import ApiKey
from catalog.session import Catalog
from tests.catalogs import catalog_fixture, postgres_catalog  # noqa: F401 - fixtures


@pytest.mark.parametrize(
    ("text", "scopes"),
    [("upload", {"upload"}), ("upload,read", {"upload", "read"}), (" READ , admin ", {"read", "admin"})],
)
def test_parse_scopes(text: str, scopes: set[str]) -> None:
    assert parse_scopes(text) == scopes


@pytest.mark.parametrize("text", ["", ",", "write", "upload,root"])
def test_parse_scopes_refuses_unknown_or_none(text: str) -> None:
    with pytest.raises(KeyRefused):
        parse_scopes(text)


def test_a_key_is_found_by_its_secret_and_only_its_hash_is_stored(catalog: Catalog) -> None:
    record, key = create_key(catalog, "alice-laptop", frozenset({"upload", "read"}), "alice")
    other, other_key = create_key(catalog, "bob-ci", frozenset({"read"}), "bob")
    assert key.startswith("vsk_") and len(key) > 40 and key != other_key
    assert find_key(catalog, key) == record
    assert find_key(catalog, other_key) == other and other.owner == "bob" and other.scopes == {"read"}
    for wrong in (key[:-1], key + "x", "vsk_", "", other_key.upper()):
        assert find_key(catalog, wrong) is None
    with catalog.session() as session:
        stored = session.scalars(select(ApiKey)).all()
        assert all(key not in row.secret_sha256 and len(row.secret_sha256) == 64 for row in stored)


def test_revoked_at_once_by_name_or_id(catalog: Catalog) -> None:
    first, first_key = create_key(catalog, "one", frozenset({"admin"}), "ops")
    second, second_key = create_key(catalog, "two", frozenset({"upload"}), "ops")
    assert revoke_key(catalog, "one").revoked_at is not None
    assert revoke_key(catalog, second.id).name == "two"
    assert find_key(catalog, first_key) is None and find_key(catalog, second_key) is None
    assert [(k.name, k.revoked_at is not None) for k in list_keys(catalog)] == [("one", True), ("two", True)]
    with pytest.raises(KeyRefused):
        revoke_key(catalog, "three")


def test_names_are_unique_and_input_is_checked(catalog: Catalog) -> None:
    create_key(catalog, "dup", frozenset({"read"}), "alice")
    with pytest.raises(KeyRefused):
        create_key(catalog, "dup", frozenset({"read"}), "bob")
    for name, scopes, owner in (("", {"read"}, "a"), ("x", set(), "a"), ("x", {"root"}, "a"), ("x", {"read"}, "")):
        with pytest.raises(KeyRefused):
            create_key(catalog, name, frozenset(scopes), owner)
    assert [k.name for k in list_keys(catalog)] == ["dup"]


def test_migration_0004_keeps_existing_rows_and_gives_assets_their_uploads_owner(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from catalog.session import ALEMBIC_DIR

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "0003")
    db = sqlite3.connect(tmp_path / "catalog.db")
    now = "2026-11-01 00:00:00"
    for upload, asset, owner in (("u1", "a1", "alice"), ("u2", "a2", None)):
        db.execute(
            'INSERT INTO uploads (id, state, "offset", meta, store_state, owner, created_at, updated_at, asset_id)'
            " VALUES (?, 'complete', 0, '{}', '{}', ?, ?, ?, ?)",
            (upload, owner, now, now, asset),
        )
        db.execute(
            "INSERT INTO assets (id, state, upload_id, progress, public, created_at, updated_at)"
            " VALUES (?, 'ready', ?, 1.0, 1, ?, ?)",
            (asset, upload, now, now),
        )
    db.commit()
    db.close()
    command.upgrade(cfg, "head")
    db = sqlite3.connect(tmp_path / "catalog.db")
    assert db.execute("SELECT id, state, owner FROM assets ORDER BY id").fetchall() == [
        ("a1", "ready", "alice"),
        ("a2", "ready", None),
    ]
    db.close()
    command.downgrade(cfg, "0003")
    command.upgrade(cfg, "head")
