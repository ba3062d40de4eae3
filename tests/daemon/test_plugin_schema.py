"""A plugin's own Alembic migrations: run by the daemon with rosey's, in their own version table."""

from __future__ import annotations

import sqlite3
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted

from rosey.daemon.assemble import build
from rosey.daemon.config import ConfigError, parse
from rosey.daemon.plugin_schema import upgrade_plugins
from rosey.storage import schema
from rosey.storage.errors import SchemaError
from rosey.storage.service import open_storage
from tests.dropin import DropIn

PLUGIN = """
    from pathlib import Path

    from rosey.plugin import Plugin, PluginFactory

    migplug = PluginFactory(
        "migplug", Plugin, migrations=str(Path(__file__).with_name("migplug_versions"))
    )
"""

FIRST = '''
    """Notes table."""
    import sqlalchemy as sa
    from alembic import op

    revision = "m1"
    down_revision = None


    def upgrade():
        op.create_table(
            "migplug_notes",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("channel_id", sa.Integer, sa.ForeignKey("channels.id")),
            sa.Column("text", sa.Text, nullable=False),
        )


    def downgrade():
        op.drop_table("migplug_notes")
'''

SECOND = '''
    """Notes get an author."""
    import sqlalchemy as sa
    from alembic import op

    revision = "m2"
    down_revision = "m1"


    def upgrade():
        with op.batch_alter_table("migplug_notes") as batch:
            batch.add_column(sa.Column("author", sa.Text))


    def downgrade():
        with op.batch_alter_table("migplug_notes") as batch:
            batch.drop_column("author")
'''

BROKEN = '''
    """Creates a table, then fails."""
    import sqlalchemy as sa
    from alembic import op

    revision = "m3"
    down_revision = "m2"


    def upgrade():
        op.create_table("migplug_half", sa.Column("id", sa.Integer, primary_key=True))
        raise RuntimeError("script bug")


    def downgrade():
        pass
'''


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def revision(db: Path, table: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute(f"SELECT version_num FROM {table}")]


@pytest.fixture
def versions(dropin: DropIn) -> Path:
    dropin.write("migplug", PLUGIN)
    folder = dropin.path / "migplug_versions"
    folder.mkdir()
    (folder / "m1_notes.py").write_text(textwrap.dedent(FIRST))
    return folder


def test_a_plugins_migrations_run_in_their_own_version_table(
    tmp_path: Path, versions: Path
) -> None:
    db = tmp_path / "rosey.sqlite"
    url = f"sqlite:///{db}"
    schema.upgrade(url)
    rosey_head = revision(db, "alembic_version")
    assert upgrade_plugins(url, {"migplug": str(versions)}) == {"migplug": (None, "m1")}
    assert "migplug_notes" in tables(db)
    assert revision(db, "alembic_version_migplug") == ["m1"]
    assert revision(db, "alembic_version") == rosey_head  # rosey's chain never sees it
    assert upgrade_plugins(url, {"migplug": str(versions)}) == {"migplug": ("m1", "m1")}
    (versions / "m2_author.py").write_text(textwrap.dedent(SECOND))
    assert upgrade_plugins(url, {"migplug": str(versions)}) == {"migplug": ("m1", "m2")}
    with sqlite3.connect(db) as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(migplug_notes)")]
    assert columns == ["id", "channel_id", "text", "author"]
    # rosey's own check still passes, and a later rosey upgrade leaves the plugin alone.
    assert schema.upgrade(url)[1] == rosey_head[0]
    assert revision(db, "alembic_version_migplug") == ["m2"]


def test_a_failing_plugin_migration_is_rolled_back_and_named(
    tmp_path: Path, versions: Path
) -> None:
    db = tmp_path / "rosey.sqlite"
    url = f"sqlite:///{db}"
    schema.upgrade(url)
    (versions / "m2_author.py").write_text(textwrap.dedent(SECOND))
    upgrade_plugins(url, {"migplug": str(versions)})
    (versions / "m3_broken.py").write_text(textwrap.dedent(BROKEN))
    with pytest.raises(SchemaError) as e:
        upgrade_plugins(url, {"migplug": str(versions)})
    assert str(e.value) == "plugin migplug: migration failed: RuntimeError: script bug"
    assert "migplug_half" not in tables(db)
    assert revision(db, "alembic_version_migplug") == ["m2"]


def test_a_database_ahead_of_the_plugin_is_refused(tmp_path: Path, versions: Path) -> None:
    db = tmp_path / "rosey.sqlite"
    url = f"sqlite:///{db}"
    schema.upgrade(url)
    upgrade_plugins(url, {"migplug": str(versions)})
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version_migplug SET version_num = 'm9'")
    with pytest.raises(SchemaError, match="plugin migplug: Can't locate revision"):
        upgrade_plugins(url, {"migplug": str(versions)})


def daemon_config(tmp_path: Path, dropin: DropIn, enable: bool) -> Any:
    db = tmp_path / "rosey.sqlite"
    doc = tomllib.loads(
        f'[database]\nurl = "sqlite:///{db}"\n'
        f'[plugins]\ndirs = ["{dropin.path}"]\n{"enable" if enable else "disable"} = ["migplug"]\n'
        '[[channel]]\nsite = "https://cytu.be"\nname = "one"\n'
    )
    return parse(doc, {})


@pytest_twisted.ensureDeferred
async def test_the_daemon_runs_the_migrations_of_enabled_plugins(
    tmp_path: Path, dropin: DropIn, versions: Path
) -> None:
    from twisted.internet import reactor

    db = tmp_path / "rosey.sqlite"
    schema.upgrade(f"sqlite:///{db}")
    build(daemon_config(tmp_path, dropin, enable=False), reactor)
    assert "migplug_notes" not in tables(db)  # disabled everywhere: not migrated
    build(daemon_config(tmp_path, dropin, enable=True), reactor)
    assert "migplug_notes" in tables(db)
    storage = open_storage(f"sqlite:///{db}", reactor)
    await storage.connect().addTimeout(5, reactor)  # rosey's schema check still passes
    await storage.close()
    (versions / "m3_broken.py").write_text(textwrap.dedent(BROKEN).replace('"m2"', '"m1"'))
    with pytest.raises(ConfigError) as e:
        build(daemon_config(tmp_path, dropin, enable=True), reactor)
    assert str(e.value) == "database: plugin migplug: migration failed: RuntimeError: script bug"


def test_rosey_db_upgrade_with_config_migrates_rosey_and_the_enabled_plugins(
    tmp_path: Path, dropin: DropIn, versions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rosey.cli import main

    db = tmp_path / "rosey.sqlite"
    config = tmp_path / "rosey.toml"
    config.write_text(
        '[database]\nurl_env = "LAB_DB_URL"\n'  # the URL is a secret: from the environment
        f'[plugins]\ndirs = ["{dropin.path}"]\nenable = ["migplug"]\n'
        '[[channel]]\nsite = "https://cytu.be"\nname = "one"\n'
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LAB_DB_URL", f"sqlite:///{db}")
        assert main(["db", "upgrade", "--config", str(config)]) == 0
        out = capsys.readouterr().out
        assert "-> " in out
        assert "plugin migplug: <base> -> m1" in out
        assert {"chat_messages", "migplug_notes"} <= tables(db)
        assert revision(db, "alembic_version_migplug") == ["m1"]
        assert main(["db", "upgrade", "--config", str(config)]) == 0
        assert "plugin migplug: already at m1" in capsys.readouterr().out
        assert main(["db", "current", "--config", str(config)]) == 0
    assert main(["db", "upgrade", "--config", str(tmp_path / "missing.toml")]) == 1
    assert "config error" in capsys.readouterr().err
