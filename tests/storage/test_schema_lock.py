"""The migration lock, with real processes: several daemons' migration children on one fresh
database migrate it once between them; a process holding the lock makes another wait (and say
so once), and gives up after the bound."""

from __future__ import annotations

import fcntl
import json
import os
import selectors
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from rosey.storage import schema
from rosey.storage.engine import make_oneshot_engine
from rosey.storage.errors import SchemaError
from rosey.storage.schema_lock import LOCK_KEY, lock_path, migration_lock

REPO = Path(__file__).resolve().parents[2]

PLUGIN_REVISION = '''
    """A table of the plugin's own."""
    import sqlalchemy as sa
    from alembic import op

    revision = "p1"
    down_revision = None


    def upgrade():
        op.create_table(
            "lockplug_notes",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("channel_id", sa.Integer, sa.ForeignKey("channels.id")),
        )


    def downgrade():
        op.drop_table("lockplug_notes")
'''


def _plugin_folder(tmp_path: Path) -> str:
    versions = tmp_path / "lockplug_versions"
    versions.mkdir()
    (versions / "p1.py").write_text(textwrap.dedent(PLUGIN_REVISION))
    return str(versions)


#: The daemon's migration child, with its imports done before it reads the request: the test
#: sends the requests once every child is ready, so their migrations really overlap.
CHILD = """
import sys
import rosey.daemon.plugin_schema, rosey.storage.schema, rosey.daemon.schema_child as m
sys.stderr.write("ready\\n")
sys.stderr.flush()
sys.exit(m.main())
"""


def _ready_child() -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert _read_line(child.stderr, 60) == "ready\n"
    return child


def _versions(url: str) -> list[tuple[str, ...]]:
    engine = make_oneshot_engine(url)
    try:
        with engine.connect() as conn:
            rosey = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            plugin = conn.execute(text("SELECT version_num FROM alembic_version_lockplug")).all()
    finally:
        engine.dispose()
    return [tuple(r) for r in [*rosey, *plugin]]


@pytest.mark.parametrize("processes", [4])
def test_concurrent_daemons_migrate_a_fresh_database_once(db_url, tmp_path, processes):
    plugins = {"lockplug": _plugin_folder(tmp_path)}
    children = [_ready_child() for _ in range(processes)]
    request = json.dumps({"url": db_url, "plugins": plugins})
    for child in children:
        assert child.stdin is not None
        child.stdin.write(request)
        child.stdin.close()
    answers = []
    for child in children:
        assert child.stdout is not None
        assert child.stderr is not None
        out, err = child.stdout.read(), child.stderr.read()  # a line each: no pipe fills up
        assert child.wait(timeout=120) == 0, err
        answers.append(json.loads(out.splitlines()[-1]))
    head = schema.head()
    # Exactly one of them found the database empty and migrated it; the others found it done.
    rosey_runs = [tuple(a["rosey"]) for a in answers]
    assert rosey_runs.count((None, head)) == 1
    assert rosey_runs.count((head, head)) == processes - 1
    plugin_runs = [tuple(a["plugins"]["lockplug"]) for a in answers]
    assert plugin_runs.count((None, "p1")) == 1
    assert plugin_runs.count(("p1", "p1")) == processes - 1
    assert _versions(db_url) == [(head,), ("p1",)]


@contextmanager
def _held_elsewhere(url: str) -> Iterator[None]:
    """The migration lock held the way another process holds it (not through this module)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = lock_path(parsed)
        assert path is not None
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
        return
    engine = make_oneshot_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
            yield
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
    finally:
        engine.dispose()


def _read_line(stream, timeout: float) -> str:
    """The next line of ``stream`` within ``timeout`` seconds ("" at end of file)."""
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError(f"no line within {timeout} s")
    return stream.readline()


def test_a_migration_waits_for_the_lock_then_runs(db_url, tmp_path):
    """Through the daemon's parent (``migrate_all``): the child's notice reaches the parent's
    stderr while it waits, and the migration runs as soon as the lock is free."""
    script = (
        "import sys; from rosey.daemon.schema_child import migrate_all; "
        "migrate_all(sys.argv[1], {})"
    )
    with _held_elsewhere(db_url):
        parent = subprocess.Popen(
            [sys.executable, "-c", script, db_url],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            line = _read_line(parent.stderr, 60)
            assert "waiting for another rosey to finish migrating" in line
            assert parent.poll() is None
            assert schema.current(db_url) is None  # nothing ran meanwhile
        except BaseException:
            parent.kill()
            raise
    rest = parent.communicate(timeout=60)[1]
    assert parent.returncode == 0, rest
    assert "waiting" not in rest  # said once
    assert schema.current(db_url) == schema.head()


def test_the_wait_is_bounded(db_url):
    said: list[str] = []
    with _held_elsewhere(db_url):
        started = time.monotonic()
        with (
            pytest.raises(SchemaError, match="gave up waiting"),
            migration_lock(db_url, wait=0.3, notify=said.append),
        ):
            raise AssertionError("took a lock another process holds")
        assert time.monotonic() - started < 10
    assert len(said) == 1
    assert "waiting for another rosey" in said[0]
    assert "(up to 0.3 s)" in said[0]
    # Free again: taken at once, without a word.
    with migration_lock(db_url, wait=0.3, notify=said.append):
        pass
    assert len(said) == 1


def test_the_lock_is_reentrant_in_one_process(sqlite_url):
    said: list[str] = []
    with migration_lock(sqlite_url, wait=0.1, notify=said.append):
        assert schema.upgrade(sqlite_url) == (None, schema.head())
    assert said == []


def test_in_memory_sqlite_needs_no_lock_file():
    assert lock_path(make_url("sqlite://")) is None
    assert lock_path(make_url("sqlite:///:memory:")) is None
    assert (
        str(lock_path(make_url("sqlite:////srv/rosey.sqlite"))) == "/srv/rosey.sqlite.migrate.lock"
    )
    with migration_lock("sqlite://"):
        pass
