"""``rosey db prune`` as a real process on a SQLite file: counts, --dry-run, the policy from
``--config`` (rosey's defaults without), and a progress bar only on a terminal."""

from __future__ import annotations

import io
import os
import pty
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from rosey.storage import schema
from rosey.storage.cli import ProgressBar, progress_bar

REPO = Path(__file__).resolve().parents[2]
DAY = 86400.0


def rosey(*args: str, stderr: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ROSEY_DATABASE_URL"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "rosey.cli", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        timeout=60,
    )


def chat_db(path: Path, ages_in_days: list[float]) -> str:
    """A migrated database with one chat line per age (in two channels) and an expired value."""
    url = f"sqlite:///{path}"
    schema.upgrade(url)
    now = time.time()
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO channels (id, name) VALUES (?, ?)", [(1, "a"), (2, "b")])
        conn.executemany(
            "INSERT INTO chat_messages (channel_id, ts, username, message) VALUES (?, ?, 'u', ?)",
            [(cid, now - age * DAY, f"{age:g}") for age in ages_in_days for cid in (1, 2)],
        )
        conn.execute(
            "INSERT INTO plugin_kv (channel_id, namespace, key, value, expires_at, updated_at) "
            "VALUES (1, 'n', 'k', 'v', ?, ?)",
            (now - 1, now - 2),
        )
    return url


def chat_left(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT message FROM chat_messages WHERE channel_id = 1 ORDER BY ts")
        return [r[0] for r in rows]


def test_prune_with_config_dry_run_then_for_real(tmp_path: Path) -> None:
    db = tmp_path / "rosey.sqlite"
    url = chat_db(db, [100, 40, 20, 1])
    config = tmp_path / "rosey.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n[database.retention]\nchat_days = 30\nmedia_days = 0\n'
        '[[channel]]\nsite = "https://cytu.be"\nname = "one"\n'
    )
    r = rosey("db", "prune", "--config", str(config), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"would delete from {url}:",
        "  chat_messages: 4 (older than 30 days)",
        "  user_actions: 0 (older than 365 days)",
        "  user_count_history: 0 (older than 365 days)",
        "  media_history: 0 (kept forever)",
        "  outbound_messages: 0 (older than 30 days)",
        "  plugin_kv: 1 (expired plugin values)",
    ]
    assert chat_left(db) == ["100", "40", "20", "1"]  # a dry run deletes nothing

    r = rosey("db", "prune", "--config", str(config), "--batch-size", "1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[:2] == [
        f"deleted from {url}:",
        "  chat_messages: 4 (older than 30 days)",
    ]
    assert "  plugin_kv: 1 (expired plugin values)" in r.stdout
    assert r.stderr == ""  # not a terminal: no progress bar
    assert chat_left(db) == ["20", "1"]


def test_prune_without_config_keeps_rosey_defaults(tmp_path: Path) -> None:
    db = tmp_path / "rosey.sqlite"
    url = chat_db(db, [400, 300])
    r = rosey("db", "prune", "--url", url)
    assert r.returncode == 0, r.stderr
    assert "  chat_messages: 2 (older than 365 days)" in r.stdout
    assert chat_left(db) == ["300"]


def test_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    db = tmp_path / "rosey.sqlite"
    url = chat_db(db, [400 + i / 1000 for i in range(50)])
    leader, follower = pty.openpty()
    try:
        r = rosey("db", "prune", "--url", url, "--batch-size", "10", stderr=follower)
        os.close(follower)
        follower = -1
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    assert r.returncode == 0
    text = seen.decode()
    # 100 chat lines, 1 expired value
    assert "\rpruning [" in text
    assert "/101 rows" in text
    assert "101/101 rows" in text
    assert chat_left(db) == []


def test_the_bar_only_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert progress_bar(5, io.StringIO(), "pruning") is None
    terminal = Terminal()
    bar = progress_bar(5, terminal, "pruning")
    assert isinstance(bar, ProgressBar)
    bar("chat_messages", 5)
    assert terminal.getvalue() == "\rpruning [" + "#" * 30 + "] 5/5 rows (chat_messages)"


def test_prune_refuses_a_database_not_at_the_head(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite"
    r = rosey("db", "prune", "--url", f"sqlite:///{missing}")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1
    assert "is at <base>" in r.stderr
    assert "run `rosey db upgrade` first" in r.stderr
    assert not missing.exists()

    r = rosey("db", "prune", "--url", f"sqlite:///{missing}", "--batch-size", "0")
    assert r.returncode == 1
    assert r.stderr == "rosey db prune: error: --batch-size 0 is not a positive number of rows\n"


def test_the_storage_module_alone_has_no_policy(tmp_path: Path) -> None:
    url = chat_db(tmp_path / "rosey.sqlite", [400])
    r = subprocess.run(
        [sys.executable, "-m", "rosey.storage.cli", "db", "prune", "--url", url],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "no retention policy: run it as `rosey db prune`" in r.stderr
