"""Plugins' own Alembic migrations, run with rosey's before the reactor starts.

A plugin that needs tables of its own sets ``migrations`` to a folder of Alembic revision files
(``revision``/``down_revision``/``upgrade()``/``downgrade()``, using ``alembic.op``), with no
``env.py``. Each plugin's chain is independent of rosey's and of the other plugins': its revision
is kept in its own version table, ``alembic_version_<plugin name>``. So rosey's schema checks
(one head, ``alembic_version``) never see plugin revisions, and removing a plugin only leaves its
tables behind; it never makes rosey refuse the database.

Each plugin is upgraded to its heads in its own transaction with rosey's migration rules
(:func:`rosey.storage.schema.migration_transaction`: SQLite foreign keys off during the run,
checked before commit), holding the database's migration lock
(:mod:`rosey.storage.schema_lock`) for the whole run. Plugins run after rosey's schema is
current, in name order, so their tables may reference rosey's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from rosey.storage.engine import make_oneshot_engine, normalize_url, safe_url
from rosey.storage.errors import SchemaError, StorageError
from rosey.storage.schema import migration_transaction
from rosey.storage.schema_lock import migration_lock

__all__ = ["plugin_revision", "upgrade_plugins", "version_table"]


def version_table(plugin: str) -> str:
    """Where plugin ``plugin``'s schema revision is kept."""
    return f"alembic_version_{plugin}"


def upgrade_plugins(
    url: str, migrations: Mapping[str, str]
) -> dict[str, tuple[str | None, str | None]]:
    """Upgrade each plugin (name -> versions folder) to its heads; return name -> (revision
    before, revision after). A failing plugin migration is rolled back (the plugins before it
    stay upgraded) and raises :class:`SchemaError` (a bad script) or :class:`StorageError` (the
    database refused it), naming the plugin."""
    parsed = normalize_url(url)
    done: dict[str, tuple[str | None, str | None]] = {}
    engine = make_oneshot_engine(parsed)
    try:
        with migration_lock(parsed):
            for name in sorted(migrations):
                done[name] = _upgrade_one(engine, parsed, name, Path(migrations[name]))
    finally:
        engine.dispose()
    return done


def _upgrade_one(
    engine: Engine, url: URL, name: str, versions: Path
) -> tuple[str | None, str | None]:
    """Upgrade plugin ``name`` in a transaction of its own; return (before, after)."""
    if not versions.is_dir():
        raise SchemaError(f"plugin {name}: its migrations folder {versions} is missing")
    try:
        with migration_transaction(engine) as conn:
            before = plugin_revision(conn, name)
            _upgrade(conn, name, str(versions))
            return before, plugin_revision(conn, name)
    except CommandError as e:
        raise SchemaError(f"plugin {name}: {str(e).splitlines()[0]}") from e
    except SQLAlchemyError as e:
        detail = str(getattr(e, "orig", None) or e).strip().splitlines()
        raise StorageError(
            f"plugin {name}: migration failed on {safe_url(url)}: "
            f"{detail[0] if detail else type(e).__name__}"
        ) from e
    except StorageError:
        raise
    except Exception as e:  # the plugin's script itself raised
        raise SchemaError(f"plugin {name}: migration failed: {type(e).__name__}: {e}") from e


def plugin_revision(conn: Connection, plugin: str) -> str | None:
    """The plugin's schema revision (heads joined by ``,``), or None before its first one."""
    context = MigrationContext.configure(conn, opts={"version_table": version_table(plugin)})
    heads = context.get_current_heads()
    return ",".join(sorted(heads)) or None


def _upgrade(conn: Connection, plugin: str, versions: str) -> None:
    script = ScriptDirectory(versions, version_locations=[versions])
    config = Config()
    config.set_main_option("script_location", versions)

    def upgrade(revision: Any, context: MigrationContext) -> Any:
        return script._upgrade_revs("heads", revision)

    with EnvironmentContext(config, script, fn=upgrade, destination_rev="heads") as env:
        env.configure(
            connection=conn,
            version_table=version_table(plugin),
            render_as_batch=True,
        )
        with env.begin_transaction():  # joins the caller's transaction
            env.run_migrations()
