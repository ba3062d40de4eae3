"""Alembic migrations on both engines: up, down, up with data kept; the SQLite batch-rebuild
cascade trap; refusal of a newer database; the plain ``alembic`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_twisted
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from rosey.storage import schema
from rosey.storage.engine import make_engine, make_oneshot_engine
from rosey.storage.errors import SchemaError, StorageError
from rosey.storage.sql import SQLStorage
from rosey.storage.tables import metadata

REPO = Path(__file__).resolve().parents[2]


def _seed_0001(url: str) -> None:
    """Rows in every kind of child table, as the 0001 schema has them."""
    engine = make_oneshot_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO channels (id, name) VALUES (1, 'labchan'), (2, 'other')"))
        for i in range(5):
            conn.execute(
                text(
                    "INSERT INTO chat_messages (channel_id, ts, username, message) "
                    "VALUES (1, :ts, 'alice', :m)"
                ),
                {"ts": 1000.0 + i, "m": f"line {i}"},
            )
        conn.execute(
            text(
                "INSERT INTO user_stats (channel_id, username, total_chat_lines) "
                "VALUES (1, 'alice', 5), (2, 'bob', 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO user_actions (channel_id, ts, username, action_type) "
                "VALUES (1, 1.0, 'alice', 'join')"
            )
        )
    engine.dispose()


def _counts(url: str) -> dict[str, int]:
    engine = make_oneshot_engine(url)
    with engine.connect() as conn:
        out = {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("channels", "chat_messages", "user_stats", "user_actions")
        }
    engine.dispose()
    return out


def _columns(url: str, table: str) -> set[str]:
    engine = make_oneshot_engine(url)
    with engine.connect() as conn:
        cols = {c["name"] for c in inspect(conn).get_columns(table)}
    engine.dispose()
    return cols


def test_up_down_up_keeps_every_row(db_url):
    assert schema.upgrade(db_url, "0001") == (None, "0001")
    _seed_0001(db_url)
    seeded = _counts(db_url)
    assert seeded == {"channels": 2, "chat_messages": 5, "user_stats": 2, "user_actions": 1}

    assert schema.upgrade(db_url, "0002") == ("0001", "0002")
    assert _counts(db_url) == seeded
    assert "created_at" in _columns(db_url, "channels")
    engine = make_oneshot_engine(db_url)
    with engine.begin() as conn:
        # Filled from the oldest chat line; the new table works; the new check holds.
        assert conn.execute(text("SELECT created_at FROM channels WHERE id = 1")).scalar() == 1000
        conn.execute(
            text(
                "INSERT INTO plugin_kv (channel_id, namespace, key, value, updated_at) "
                "VALUES (1, 'p', 'k', 'v', 0)"
            )
        )
    with pytest.raises(Exception, match=r"(?i)check"), engine.begin() as conn:
        conn.execute(text("INSERT INTO channels (name) VALUES ('')"))
    engine.dispose()

    assert schema.downgrade(db_url, "0001") == ("0002", "0001")
    assert _counts(db_url) == seeded
    assert "created_at" not in _columns(db_url, "channels")
    assert "plugin_kv" not in inspect(make_oneshot_engine(db_url)).get_table_names()

    assert schema.upgrade(db_url, "0002") == ("0001", "0002")
    assert _counts(db_url) == seeded
    assert schema.downgrade(db_url, "base") == ("0002", None)
    assert schema.current(db_url) is None


def test_sqlite_cascade_trap_is_real_and_guarded(tmp_path):
    """With foreign keys ON inside the transaction, 0002's rebuild of ``channels`` deletes
    every child row through ON DELETE CASCADE; rosey's migration runner keeps them."""
    trap = f"sqlite:///{tmp_path / 'trap.sqlite'}"
    schema.upgrade(trap, "0001")
    _seed_0001(trap)
    engine = make_engine(trap)  # foreign_keys=ON on every connection
    with engine.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        command.upgrade(schema.alembic_config(connection=conn), "0002")
    engine.dispose()
    lost = _counts(trap)
    assert lost["channels"] == 2
    assert lost["chat_messages"] == 0
    assert lost["user_stats"] == 0

    guarded = f"sqlite:///{tmp_path / 'guarded.sqlite'}"
    schema.upgrade(guarded, "0001")
    _seed_0001(guarded)
    schema.upgrade(guarded)
    assert _counts(guarded)["chat_messages"] == 5
    # Foreign keys are back on for the connections that follow.
    engine = make_engine(guarded)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_failed_migration_changes_nothing(db_url):
    """DDL is transactional on both engines: a migration failing half-way leaves 0001 intact."""
    schema.upgrade(db_url, "0001")
    _seed_0001(db_url)
    engine = make_oneshot_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO channels (id, name) VALUES (3, '')"))  # breaks 0002's check
    engine.dispose()
    with pytest.raises(StorageError):
        schema.upgrade(db_url)
    assert schema.current(db_url) == "0001"
    assert "created_at" not in _columns(db_url, "channels")
    assert _counts(db_url)["chat_messages"] == 5


def _stamp_future(url: str) -> None:
    engine = make_oneshot_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()


@pytest_twisted.ensureDeferred
async def test_newer_database_is_refused(db_url):
    from twisted.internet import reactor

    schema.upgrade(db_url)
    _stamp_future(db_url)
    with pytest.raises(SchemaError, match="newer than this rosey"):
        schema.upgrade(db_url)
    with pytest.raises(SchemaError, match="newer than this rosey"):
        schema.downgrade(db_url, "0001")
    storage = SQLStorage(db_url, reactor)
    with pytest.raises(SchemaError, match="newer than this rosey"):
        await storage.connect()
    await storage.close()


@pytest_twisted.ensureDeferred
async def test_connect_refuses_a_schema_behind_head(sqlite_url):
    from twisted.internet import reactor

    schema.upgrade(sqlite_url, "0001")
    storage = SQLStorage(sqlite_url, reactor)
    with pytest.raises(SchemaError, match="rosey db upgrade"):
        await storage.connect()
    await storage.close()


def test_tables_match_the_migrations(db_url):
    schema.upgrade(db_url)
    engine = make_oneshot_engine(db_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, metadata)
    engine.dispose()
    assert diffs == []


def test_history_and_head():
    revs = schema.history()
    assert [r.revision for r in revs][:3] == ["0001", "0002", "0003_channel_case"]
    assert revs[0].down_revision is None
    assert revs[1].down_revision == "0001"
    assert revs[-1].is_head
    assert schema.head() == revs[-1].revision
    assert (schema.migrations_dir() / "env.py").is_file()


def _alembic(*args: str, env_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ROSEY_DATABASE_URL"}
    if env_url:
        env["ROSEY_DATABASE_URL"] = env_url
    alembic = Path(sys.executable).with_name("alembic")
    return subprocess.run(
        [str(alembic), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def test_plain_alembic_command_from_the_repository(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    up = _alembic("-x", f"url={url}", "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert "Running upgrade 0001 -> 0002" in up.stderr
    cur = _alembic("current", env_url=url)
    assert cur.returncode == 0
    assert f"{schema.head()} (head)" in cur.stdout
    down = _alembic("downgrade", "0001", env_url=url)
    assert down.returncode == 0, down.stderr
    assert schema.current(url) == "0001"
    _stamp_future(url)
    refused = _alembic("-x", f"url={url}", "upgrade", "head")
    assert refused.returncode != 0
    assert "newer than this rosey" in refused.stderr
