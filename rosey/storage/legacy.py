"""Import a Rosey-Robot v1 SQLite database into rosey's schema for one channel (blocking).

Idempotent: rows already imported are recognised (by their content, since the old ids mean
nothing here) and not added again; user stats and high-water marks merge by min/max. Tables or
columns rosey does not know are skipped and reported; ``api_tokens`` is never imported (it
holds credentials). A stale ``current_session_start`` is not imported: the old bot is not
watching anyone any more.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.engine import URL

from rosey.storage import schema, writes
from rosey.storage.engine import make_oneshot_engine
from rosey.storage.errors import LegacyImportError
from rosey.storage.legacy_tables import IMPORTERS, TableReport

SQLITE_MAGIC = b"SQLite format 3\x00"
CHUNK = 1000

#: Legacy table -> (columns it must have, columns it may have).
LEGACY_SCHEMA: dict[str, tuple[set[str], set[str]]] = {
    "user_stats": (
        {"username"},
        {
            "first_seen",
            "last_seen",
            "total_chat_lines",
            "total_time_connected",
            "current_session_start",
        },
    ),
    "user_actions": ({"timestamp", "username", "action_type"}, {"id", "details"}),
    "channel_stats": (
        set(),
        {
            "id",
            "max_users",
            "max_users_timestamp",
            "max_connected",
            "max_connected_timestamp",
            "last_updated",
        },
    ),
    "user_count_history": (
        {"timestamp", "chat_users", "connected_users"},
        {"id"},
    ),
    "recent_chat": ({"timestamp", "username", "message"}, {"id"}),
    "current_status": (
        set(),
        {
            "id",
            "bot_name",
            "bot_rank",
            "bot_afk",
            "channel_name",
            "current_chat_users",
            "current_connected_users",
            "playlist_items",
            "current_media_title",
            "current_media_duration",
            "bot_start_time",
            "bot_connected",
            "last_updated",
        },
    ),
    "outbound_messages": (
        {"timestamp", "message"},
        {"id", "sent", "sent_timestamp", "retry_count", "last_error"},
    ),
}
NOT_IMPORTED = {"api_tokens": "holds API credentials; not imported"}

Progress = Callable[[str, int], None]


@dataclass
class ImportReport:
    """What an import did, table by table, and what it skipped."""

    tables: list[TableReport] = field(default_factory=list)
    missing_tables: list[str] = field(default_factory=list)
    skipped_tables: list[tuple[str, str]] = field(default_factory=list)


def open_legacy(path: str | Path) -> sqlite3.Connection:
    """Open a legacy database read-only; :class:`LegacyImportError` if it is not one."""
    p = Path(path)
    if not p.is_file():
        raise LegacyImportError(f"{p}: no such file")
    with p.open("rb") as f:
        if f.read(16) != SQLITE_MAGIC:
            raise LegacyImportError(f"{p} is not a SQLite database")
    try:
        conn = sqlite3.connect(f"file:{quote(str(p.resolve()))}?mode=ro", uri=True)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as e:
        raise LegacyImportError(f"{p}: cannot read it as SQLite ({e})") from e
    conn.row_factory = sqlite3.Row
    return conn


def count_rows(legacy: sqlite3.Connection) -> dict[str, int]:
    """Rows per importable legacy table present in the file."""
    names = [r[0] for r in legacy.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return {
        n: legacy.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]
        for n in names
        if n in LEGACY_SCHEMA
    }


def import_legacy(
    path: str | Path, url: str | URL, channel: str, progress: Progress | None = None
) -> ImportReport:
    """Import the legacy database at ``path`` into the (migrated) database at ``url`` for
    ``channel``. ``progress(table, rows_done)`` is called as rows are processed."""
    legacy = open_legacy(path)
    report = ImportReport()
    engine = make_oneshot_engine(url)
    try:
        with engine.connect() as conn:
            schema.check_current(conn)
        names = [r[0] for r in legacy.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for name in names:
            if name.startswith("sqlite_"):
                continue
            if name in NOT_IMPORTED:
                report.skipped_tables.append((name, NOT_IMPORTED[name]))
            elif name not in LEGACY_SCHEMA:
                report.skipped_tables.append((name, "unknown table"))
        for name, (required, optional) in LEGACY_SCHEMA.items():
            if name not in names:
                report.missing_tables.append(name)
                continue
            cols = {r[1] for r in legacy.execute(f'PRAGMA table_info("{name}")')}
            lacking = required - cols
            if lacking:
                report.skipped_tables.append(
                    (name, f"lacks column(s) {', '.join(sorted(lacking))}")
                )
                continue
            table = TableReport(name, skipped_columns=sorted(cols - required - optional))
            with engine.begin() as conn:
                cid = writes.create_channel(conn, channel, None)
                IMPORTERS[name](conn, cid, _rows(legacy, name, cols, table, progress), table)
            report.tables.append(table)
    finally:
        legacy.close()
        engine.dispose()
    return report


def _rows(
    legacy: sqlite3.Connection,
    name: str,
    cols: set[str],
    table: TableReport,
    progress: Progress | None,
) -> Iterator[list[dict[str, Any]]]:
    """The table's rows in chunks, as dicts with every known column (missing ones None)."""
    required, optional = LEGACY_SCHEMA[name]
    wanted = sorted((required | optional) & cols)
    order = " ORDER BY rowid"
    cursor = legacy.execute(f'SELECT {", ".join(wanted)} FROM "{name}"{order}')
    while chunk := cursor.fetchmany(CHUNK):
        rows = [{c: (r[c] if c in cols else None) for c in required | optional} for r in chunk]
        table.read += len(rows)
        yield rows
        if progress is not None:
            progress(name, table.read)
