"""Channel names are case-insensitive: fold channels whose names differ only in case.

CyTube lower-cases channel names (and host names are case-insensitive), so ``cytu.be/MyChan``
and ``cytu.be/mychan`` are one channel; rosey now keys ``channels.name`` by the lower-cased name
(``rosey.storage.writes.channel_key``). Rows of a group of such channels are folded into its
oldest channel (lowest id): plain history rows move over; rows with a per-channel unique key
are merged: ``user_stats`` adds up lines and time connected and keeps the earliest first seen
and latest last seen, ``channel_stats`` keeps the higher high-water marks, ``bot_status`` and
``plugin_kv`` keep the row updated last. Tables of plugins that reference ``channels.id`` are
found by reflection: their rows move over, except those that would collide on a unique key
with a row of the kept channel (the kept channel's row wins). Every remaining name is then
lower-cased.

The downgrade changes nothing: a fold cannot be undone, and lower-case names work before too.

Revision ID: 0003_channel_case
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0003_channel_case"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def _key(name: str) -> str:
    # Frozen copy of rosey.storage.writes.channel_key as of this revision.
    return name.lower()


def upgrade() -> None:
    """Fold case-variant channels into one, then lower-case every channel name."""
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, name, created_at FROM channels ORDER BY id")).all()
    groups: dict[str, list[Any]] = {}
    for row in rows:
        groups.setdefault(_key(row.name), []).append(row)
    children = _child_tables(conn)
    for key, group in groups.items():
        keep = group[0]
        for drop in group[1:]:
            _fold(conn, keep.id, drop.id, children)
            conn.execute(sa.text("DELETE FROM channels WHERE id = :d"), {"d": drop.id})
        created = [r.created_at for r in group if r.created_at is not None]
        conn.execute(
            sa.text("UPDATE channels SET name = :n, created_at = :c WHERE id = :k"),
            {"n": key, "c": min(created) if created else None, "k": keep.id},
        )


def downgrade() -> None:
    """Nothing: folded channels stay folded (see the module docstring)."""


def _child_tables(conn: Connection) -> list[tuple[str, str, list[list[str]]]]:
    """(table, column, unique keys holding the column) for every column referencing
    ``channels.id``, rosey's tables and plugins' alike."""
    insp = sa.inspect(conn)
    found = []
    for table in sorted(insp.get_table_names()):
        for fk in insp.get_foreign_keys(table):
            cols = fk["constrained_columns"]
            if fk["referred_table"] != "channels" or len(cols) != 1:
                continue
            col = cols[0]
            keys = [insp.get_pk_constraint(table)["constrained_columns"]]
            keys += [u["column_names"] for u in insp.get_unique_constraints(table)]
            keys += [list(i["column_names"]) for i in insp.get_indexes(table) if i["unique"]]
            found.append((table, col, [list(k) for k in keys if col in k]))
    return found


def _fold(
    conn: Connection, keep: int, drop: int, children: list[tuple[str, str, list[list[str]]]]
) -> None:
    ids = {"k": keep, "d": drop}
    _merge_user_stats(conn, ids)
    _merge_channel_stats(conn, ids)
    # The row updated last wins: drop the kept channel's older ones, the move does the rest.
    conn.execute(
        sa.text(
            "DELETE FROM bot_status WHERE channel_id = :k AND EXISTS (SELECT 1 FROM bot_status d "
            "WHERE d.channel_id = :d AND coalesce(d.last_updated, 0) > "
            "coalesce(bot_status.last_updated, 0))"
        ),
        ids,
    )
    conn.execute(
        sa.text(
            "DELETE FROM plugin_kv WHERE channel_id = :k AND EXISTS (SELECT 1 FROM plugin_kv d "
            "WHERE d.channel_id = :d AND d.namespace = plugin_kv.namespace "
            "AND d.key = plugin_kv.key AND d.updated_at > plugin_kv.updated_at)"
        ),
        ids,
    )
    quote = conn.dialect.identifier_preparer.quote
    for table, col, keys in children:
        t, c = quote(table), quote(col)
        for unique in keys:
            same = "".join(f" AND k.{quote(o)} = {t}.{quote(o)}" for o in unique if o != col)
            conn.execute(
                sa.text(
                    f"DELETE FROM {t} WHERE {c} = :d AND EXISTS "
                    f"(SELECT 1 FROM {t} k WHERE k.{c} = :k{same})"
                ),
                ids,
            )
        conn.execute(sa.text(f"UPDATE {t} SET {c} = :k WHERE {c} = :d"), ids)


def _least(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def _greatest(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


def _merge_user_stats(conn: Connection, ids: dict[str, int]) -> None:
    """Users seen in both channels: one row with both histories."""
    both = conn.execute(
        sa.text(
            "SELECT k.username, k.first_seen, d.first_seen AS d_first, k.last_seen, "
            "d.last_seen AS d_last, k.total_chat_lines + d.total_chat_lines AS lines, "
            "k.total_time_connected + d.total_time_connected AS connected, "
            "k.current_session_start, d.current_session_start AS d_session "
            "FROM user_stats k JOIN user_stats d ON d.username = k.username "
            "WHERE k.channel_id = :k AND d.channel_id = :d"
        ),
        ids,
    ).all()
    merged = [
        {
            "k": ids["k"],
            "u": r.username,
            "first": _least(r.first_seen, r.d_first),
            "last": _greatest(r.last_seen, r.d_last),
            "lines": r.lines,
            "connected": r.connected,
            "session": _least(r.current_session_start, r.d_session),
        }
        for r in both
    ]
    if merged:
        conn.execute(
            sa.text(
                "UPDATE user_stats SET first_seen = :first, last_seen = :last, "
                "total_chat_lines = :lines, total_time_connected = :connected, "
                "current_session_start = :session WHERE channel_id = :k AND username = :u"
            ),
            merged,
        )


def _merge_channel_stats(conn: Connection, ids: dict[str, int]) -> None:
    """The higher high-water marks (with their times) of the two channels."""
    both = conn.execute(
        sa.text(
            "SELECT k.max_users, k.max_users_ts, k.max_connected, k.max_connected_ts, "
            "k.last_updated, d.max_users AS d_users, d.max_users_ts AS d_users_ts, "
            "d.max_connected AS d_conn, d.max_connected_ts AS d_conn_ts, "
            "d.last_updated AS d_updated "
            "FROM channel_stats k JOIN channel_stats d ON d.channel_id = :d "
            "WHERE k.channel_id = :k"
        ),
        ids,
    ).first()
    if both is None:
        return
    users = (both.max_users, both.max_users_ts)
    if both.d_users > both.max_users:
        users = (both.d_users, both.d_users_ts)
    connected = (both.max_connected, both.max_connected_ts)
    if both.d_conn > both.max_connected:
        connected = (both.d_conn, both.d_conn_ts)
    conn.execute(
        sa.text(
            "UPDATE channel_stats SET max_users = :u, max_users_ts = :ut, max_connected = :c, "
            "max_connected_ts = :ct, last_updated = :lu WHERE channel_id = :k"
        ),
        {
            "k": ids["k"],
            "u": users[0],
            "ut": users[1],
            "c": connected[0],
            "ct": connected[1],
            "lu": _greatest(both.last_updated, both.d_updated),
        },
    )
