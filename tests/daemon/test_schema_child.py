"""The schema migrations in a child process (:mod:`rosey.daemon.schema_child`), so Alembic and
Mako stay out of ``twistd rosey``."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rosey.daemon.schema_child import MigrationError, migrate_all

REPO = Path(__file__).resolve().parents[2]


def test_the_child_migrates_rosey_to_the_head(tmp_path: Path) -> None:
    from rosey.storage import schema

    db = tmp_path / "rosey.sqlite"
    assert migrate_all(f"sqlite:///{db}", {}) == {}
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (schema.head(),)
        ]
    assert migrate_all(f"sqlite:///{db}", {}) == {}  # again: nothing to do


def test_a_migration_failure_is_one_line_naming_the_database(tmp_path: Path) -> None:
    with pytest.raises(MigrationError) as e:
        migrate_all("sqlite:////nonexistent-dir/rosey.sqlite", {})
    message = str(e.value)
    assert message.startswith("database: ")
    assert "\n" not in message
    assert "nonexistent-dir" in message


def test_a_missing_plugin_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(MigrationError) as e:
        migrate_all(f"sqlite:///{tmp_path / 'r.sqlite'}", {"ghost": str(tmp_path / "nope")})
    assert str(e.value).startswith("config error: database: plugin ghost: ")


def test_the_entry_point_and_the_migration_parent_do_not_load_alembic() -> None:
    """Alembic and Mako load only in the migration's child process."""
    code = (
        "import sys\n"
        "import rosey.daemon.tap, rosey.daemon.schema_child, rosey.daemon.memory\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako'))\n"
        "print(' '.join(bad))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []
