"""Importing a Rosey-Robot v1 SQLite database (schema from the issue), via ``rosey db
import-legacy``: counts per table, idempotence, skipped tables/columns, non-SQLite files."""

from __future__ import annotations

import argparse
import io
import sqlite3
from pathlib import Path

import pytest
import pytest_twisted

from rosey.storage import legacy, schema
from rosey.storage.cli import main, run_db_command
from rosey.storage.errors import LegacyImportError
from rosey.storage.sql import SQLStorage

LEGACY_SCHEMA = """
CREATE TABLE user_stats(username TEXT PRIMARY KEY, first_seen INT, last_seen INT,
  total_chat_lines INT DEFAULT 0, total_time_connected INT DEFAULT 0, current_session_start INT);
CREATE TABLE user_actions(id INTEGER PRIMARY KEY, timestamp INT, username TEXT,
  action_type TEXT, details TEXT);
CREATE TABLE channel_stats(id INTEGER PRIMARY KEY CHECK (id = 1), max_users INT,
  max_users_timestamp INT, max_connected INT, max_connected_timestamp INT, last_updated INT);
CREATE TABLE user_count_history(id INTEGER PRIMARY KEY, timestamp INT, chat_users INT,
  connected_users INT);
CREATE TABLE recent_chat(id INTEGER PRIMARY KEY, timestamp INT, username TEXT, message TEXT);
CREATE TABLE current_status(id INTEGER PRIMARY KEY CHECK (id = 1), bot_name TEXT, bot_rank REAL,
  bot_afk INT, channel_name TEXT, current_chat_users INT, current_connected_users INT,
  playlist_items INT, current_media_title TEXT, current_media_duration INT, bot_start_time INT,
  bot_connected INT, last_updated INT);
CREATE TABLE outbound_messages(id INTEGER PRIMARY KEY, timestamp INT, message TEXT,
  sent INT DEFAULT 0, sent_timestamp INT, retry_count INT DEFAULT 0, last_error TEXT);
CREATE TABLE api_tokens(token TEXT PRIMARY KEY, description TEXT, created_at INT, last_used INT,
  revoked INT DEFAULT 0);
"""


def make_legacy(path: Path, chat_rows: int = 2500, schema: str = LEGACY_SCHEMA) -> Path:
    db = sqlite3.connect(path)
    db.executescript(schema)
    db.executemany(
        "INSERT INTO user_stats VALUES (?, ?, ?, ?, ?, ?)",
        [("alice", 100, 900, 40, 3600, 800), ("bob", 200, 300, 2, 60, None)],
    )
    db.executemany(
        "INSERT INTO user_actions (timestamp, username, action_type, details) VALUES (?,?,?,?)",
        [
            (100, "alice", "join", None),
            (150, "alice", "pm", "hello bot"),
            (300, "bob", "leave", None),
        ],
    )
    db.execute("INSERT INTO channel_stats VALUES (1, 12, 500, 30, 600, 700)")
    db.executemany(
        "INSERT INTO user_count_history (timestamp, chat_users, connected_users) VALUES (?,?,?)",
        [(1000 + 300 * i, i, i + 3) for i in range(10)],
    )
    db.executemany(
        "INSERT INTO recent_chat (timestamp, username, message) VALUES (?, ?, ?)",
        [(5000 + i, "alice" if i % 3 else "bob", f"old line {i}") for i in range(chat_rows)],
    )
    db.execute(
        "INSERT INTO current_status VALUES (1, 'OldRosey', 3.0, 0, 'labchan', 5, 9, 20, "
        "'Some Song', 215, 50, 1, 990)"
    )
    db.executemany(
        "INSERT INTO outbound_messages (timestamp, message, sent, sent_timestamp, retry_count, "
        "last_error) VALUES (?, ?, ?, ?, ?, ?)",
        [(10, "announce", 1, 11, 0, None), (20, "pending", 0, None, 2, "timeout")],
    )
    db.execute("INSERT INTO api_tokens VALUES ('secret-token', 'ci', 1, 2, 0)")
    db.commit()
    db.close()
    return path


def _run(argv: list[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    from rosey.storage.cli import add_db_parser

    add_db_parser(sub)
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    return run_db_command(args, out=out, err=err), out.getvalue(), err.getvalue()


@pytest_twisted.ensureDeferred
async def test_import_legacy_twice_is_idempotent(tmp_path, db_url):
    from twisted.internet import reactor

    old = make_legacy(tmp_path / "old.db")
    code, out, err = _run(
        ["db", "import-legacy", str(old), "--channel", "labchan", "--url", db_url]
    )
    assert code == 0, err
    assert "recent_chat: 2500 read, 2500 imported, 0 merged, 0 already present" in out
    assert "user_stats: 2 read, 2 imported" in out
    assert "user_actions: 3 read, 3 imported" in out
    assert "user_count_history: 10 read, 10 imported" in out
    assert "api_tokens: skipped (holds API credentials; not imported)" in out
    assert "\rimporting [###" in err
    assert "2519/2519 rows" in err
    assert err.endswith("\n")

    code, again, _ = _run(
        ["db", "import-legacy", str(old), "--channel", "labchan", "--url", db_url]
    )
    assert code == 0
    assert "recent_chat: 2500 read, 0 imported, 0 merged, 2500 already present" in again
    assert "user_stats: 2 read, 0 imported, 0 merged, 2 already present" in again
    assert "outbound_messages: 2 read, 0 imported, 0 merged, 2 already present" in again
    assert "current_status: 1 read, 0 imported, 0 merged, 1 already present" in again

    storage = SQLStorage(db_url, reactor)
    await storage.connect()
    try:
        assert len(await storage.get_recent_messages("labchan", limit=10_000)) == 2500
        alice = await storage.get_user_stats("labchan", "alice")
        assert alice is not None
        assert (alice.first_seen, alice.last_seen, alice.total_chat_lines) == (100, 900, 40)
        assert alice.total_time_connected == 3600
        assert alice.current_session_start is None
        pm = await storage.get_user_actions("labchan", action_type="pm")
        assert [(a.username, a.details, a.timestamp) for a in pm] == [("alice", "hello bot", 150)]
        stats = await storage.get_channel_stats("labchan")
        assert (stats.max_users, stats.max_users_timestamp, stats.max_connected) == (12, 500, 30)
        status = await storage.get_status("labchan")
        assert status is not None
        assert status.bot_name == "OldRosey"
        assert not status.connected
        history = await storage.get_user_count_history("labchan", start_time=1000, end_time=1600)
        assert [h.chat_users for h in history] == [0, 1, 2]
        assert await storage.get_recent_messages("elsewhere") == []
    finally:
        await storage.close()


def test_missing_tables_and_unexpected_columns(tmp_path, sqlite_url):
    odd_schema = """
    CREATE TABLE user_stats(username TEXT PRIMARY KEY, first_seen INT, last_seen INT,
      total_chat_lines INT, favourite_colour TEXT);
    CREATE TABLE recent_chat(id INTEGER PRIMARY KEY, timestamp INT, message TEXT);
    CREATE TABLE karma(username TEXT, points INT);
    """
    path = tmp_path / "odd.db"
    db = sqlite3.connect(path)
    db.executescript(odd_schema)
    db.execute("INSERT INTO user_stats VALUES ('alice', 1, 2, 3, 'blue')")
    db.execute("INSERT INTO user_stats VALUES (NULL, 1, 2, 3, 'red')")
    db.commit()
    db.close()
    schema.upgrade(sqlite_url)
    report = legacy.import_legacy(path, sqlite_url, "labchan")
    [stats] = report.tables
    assert (stats.name, stats.read, stats.imported, stats.invalid) == ("user_stats", 2, 1, 1)
    assert stats.skipped_columns == ["favourite_colour"]
    assert ("recent_chat", "lacks column(s) username") in report.skipped_tables
    assert ("karma", "unknown table") in report.skipped_tables
    assert set(report.missing_tables) == {
        "user_actions",
        "channel_stats",
        "user_count_history",
        "current_status",
        "outbound_messages",
    }
    code, out, _ = _run(["db", "import-legacy", str(path), "--channel", "x", "--url", sqlite_url])
    assert code == 0
    assert "skipped columns: favourite_colour" in out
    assert "user_actions: not in the file" in out


def test_not_a_sqlite_file_is_one_line(tmp_path, sqlite_url, capsys):
    junk = tmp_path / "notes.txt"
    junk.write_text("this is not a database\n" * 10)
    with pytest.raises(LegacyImportError, match="is not a SQLite database"):
        legacy.open_legacy(junk)
    code = main(["db", "import-legacy", str(junk), "--channel", "c", "--url", sqlite_url])
    err = capsys.readouterr().err
    assert code == 1
    assert err == f"rosey db import-legacy: error: {junk} is not a SQLite database\n"
    code = main(["db", "import-legacy", str(tmp_path / "nope.db"), "--channel", "c"])
    assert code == 1
    assert capsys.readouterr().err.count("\n") == 1
