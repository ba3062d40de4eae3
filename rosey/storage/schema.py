"""Schema migrations with Alembic, blocking: run them before the reactor starts.

The scripts live in the repository's top-level ``migrations/`` folder, which an installed rosey
ships as the ``rosey.migrations`` package. On SQLite every migration runs with foreign keys OFF
(switched outside the transaction, where the pragma works) and is checked with
``PRAGMA foreign_key_check`` before commit: a batch migration rebuilds a table by copy, drop and
rename, and with foreign keys on that drop would delete every child row through
``ON DELETE CASCADE``.

A database whose revision this code does not know (newer than the code) is refused with a
:class:`SchemaError` before anything runs. Upgrades and downgrades hold the database's migration
lock (:mod:`rosey.storage.schema_lock`), so two processes never migrate one database at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from rosey.storage.engine import DEFAULT_URL, ENV_URL, make_oneshot_engine, normalize_url, safe_url
from rosey.storage.errors import SchemaError, StorageError
from rosey.storage.schema_lock import migration_lock


@dataclass(frozen=True, slots=True)
class RevisionInfo:
    """One migration script."""

    revision: str
    down_revision: str | None
    doc: str
    is_head: bool


def default_url() -> str:
    """``$ROSEY_DATABASE_URL``, or a ``rosey.sqlite`` file in the working directory."""
    return os.environ.get(ENV_URL) or DEFAULT_URL


def migrations_dir() -> Path:
    """Where the migration scripts are: the installed ``rosey.migrations`` package, else the
    repository's ``migrations/`` folder next to the ``rosey`` package."""
    try:
        from importlib.resources import files

        installed = Path(str(files("rosey.migrations")))
        if (installed / "env.py").is_file():
            return installed
    except ModuleNotFoundError:
        pass
    repo = Path(__file__).resolve().parents[2] / "migrations"
    if (repo / "env.py").is_file():
        return repo
    raise SchemaError("rosey's migration scripts are missing: reinstall rosey")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for rosey's scripts; ``connection`` is shared with ``env.py``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["connection"] = connection
    return cfg


def script_directory() -> ScriptDirectory:
    """Rosey's migration scripts."""
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision this code knows."""
    rev = script_directory().get_current_head()
    assert rev is not None
    return rev


def history() -> list[RevisionInfo]:
    """Every migration, oldest first."""
    script = script_directory()
    heads = set(script.get_heads())
    revs = list(script.walk_revisions())
    revs.reverse()
    return [
        RevisionInfo(
            revision=r.revision,
            down_revision=r.down_revision if isinstance(r.down_revision, str) else None,
            doc=(r.doc or "").strip(),
            is_head=r.revision in heads,
        )
        for r in revs
    ]


def db_revision(conn: Connection) -> str | None:
    """The database's schema revision, or None for an empty database."""
    return MigrationContext.configure(conn).get_current_revision()


def check_known(conn: Connection) -> str | None:
    """Refuse a database newer than this code; return its revision."""
    rev = db_revision(conn)
    script = script_directory()
    known = {r.revision for r in script.walk_revisions()}
    if rev is not None and rev not in known:
        raise SchemaError(
            f"the database schema is at revision {rev}, which is newer than this rosey "
            f"(it knows up to {script.get_current_head()}): run a newer rosey, or restore a "
            "backup"
        )
    return rev


def check_current(conn: Connection) -> None:
    """Refuse a database that is not at the head revision (too old or too new)."""
    rev = check_known(conn)
    want = script_directory().get_current_head()
    if rev != want:
        have = f"revision {rev}" if rev else "an empty schema"
        raise SchemaError(f"the database has {have}, rosey needs {want}: run `rosey db upgrade`")


@contextmanager
def migration_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction fit for migrations (see the module docstring)."""
    with engine.connect() as conn:
        is_sqlite = conn.dialect.name == "sqlite"
        raw: Any = conn.connection.driver_connection if is_sqlite else None
        if is_sqlite:
            # Must happen before BEGIN: inside a transaction this pragma is a silent no-op.
            raw.execute("PRAGMA foreign_keys = OFF")
        try:
            with conn.begin():
                yield conn
                if is_sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise SchemaError(
                            f"migration left {len(broken)} rows with broken foreign keys "
                            f"(first: {tuple(broken[0])}); rolled back"
                        )
        finally:
            if is_sqlite:
                raw.execute("PRAGMA foreign_keys = ON")


def upgrade(url: str | URL | None = None, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the database to ``revision``; return (revision before, revision after)."""
    return _migrate(url, lambda cfg: command.upgrade(cfg, revision))


def downgrade(url: str | URL | None, revision: str) -> tuple[str | None, str | None]:
    """Downgrade the database to ``revision`` (``base`` empties it); return (before, after)."""
    return _migrate(url, lambda cfg: command.downgrade(cfg, revision))


def current(url: str | URL | None = None) -> str | None:
    """The database's revision (None: empty or missing). Never creates a SQLite file."""
    parsed = normalize_url(url or default_url())
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        return None
    engine = make_oneshot_engine(parsed)
    try:
        with engine.connect() as conn:
            return db_revision(conn)
    except SQLAlchemyError as e:
        raise StorageError(_cannot_open(parsed, e)) from e
    finally:
        engine.dispose()


def _migrate(url: str | URL | None, run: Any) -> tuple[str | None, str | None]:
    parsed = normalize_url(url or default_url())
    engine = make_oneshot_engine(parsed)
    try:
        with migration_lock(parsed), migration_transaction(engine) as conn:
            before = check_known(conn)
            run(alembic_config(connection=conn))
            after = db_revision(conn)
        return before, after
    except CommandError as e:
        raise SchemaError(str(e).splitlines()[0]) from e
    except SQLAlchemyError as e:
        raise StorageError(_cannot_open(parsed, e)) from e
    finally:
        engine.dispose()


def _cannot_open(url: URL, exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None) or exc
    detail = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return f"database {safe_url(url)}: {detail}"
