"""Channel names differing only in case are one channel: one row in ``channels`` whatever the
case a configuration spells it in, and migration 0003 folds rows split before it."""

from __future__ import annotations

import pytest_twisted
from sqlalchemy import text

from rosey.storage import schema
from rosey.storage.engine import make_oneshot_engine
from rosey.storage.sql import SQLStorage

FOLD = "0003_channel_case"


def _rows(url: str, sql: str) -> list[tuple]:
    engine = make_oneshot_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql)).all()]
    finally:
        engine.dispose()


@pytest_twisted.ensureDeferred
async def test_two_spellings_record_into_one_channel_row(storage: SQLStorage, db_url):
    """Two configurations, ``cytu.be/MyChan`` and ``cytu.be/mychan``, on one database."""
    from twisted.internet import reactor

    other = SQLStorage(db_url, reactor)
    await other.connect()
    try:
        await storage.save_message("cytu.be/MyChan", "alice", "hi", timestamp=1.0)
        await storage.save_user_stats("cytu.be/MyChan", "alice", chat_lines=1)
        await other.save_message("cytu.be/mychan", "bob", "hello", timestamp=2.0)
        await other.enqueue_outbound("cytu.be/mychan", "carol", "from bob", timestamp=3.0)

        assert _rows(db_url, "SELECT name FROM channels") == [("cytu.be/mychan",)]
        for store, name in ((storage, "cytu.be/mychan"), (other, "CYTU.BE/MyChan")):
            lines = await store.get_recent_messages(name)
            assert sorted(m.message for m in lines) == ["hello", "hi"]
            alice = await store.get_user_stats(name, "alice")
            assert alice is not None
            assert alice.total_chat_lines == 1
        # !tell's in-memory index (loaded from the stored key) answers for either spelling.
        await storage.outbound.waiting.load()
        assert storage.may_have_outbound("cytu.be/MyChan", "carol")
        unsent = await storage.get_unsent_outbound("cytu.be/MyChan", "carol")
        assert [m.message for m in unsent] == ["from bob"]
    finally:
        await other.close()


def _seed_split(url: str) -> None:
    """At 0002: one channel split in two by case, another spelled in capitals, and a plugin's
    table with a per-channel unique key."""
    engine = make_oneshot_engine(url)
    with engine.begin() as conn:
        run = conn.execute
        run(
            text(
                "INSERT INTO channels (id, name, created_at) VALUES "
                "(1, 'cytu.be/MyChan', 50), (2, 'cytu.be/mychan', 10), (3, 'Cytu.be/Other', NULL)"
            )
        )
        run(
            text(
                "INSERT INTO chat_messages (channel_id, ts, username, message) VALUES "
                "(1, 100, 'alice', 'one'), (2, 200, 'bob', 'two'), (3, 300, 'eve', 'three')"
            )
        )
        run(
            text(
                "INSERT INTO user_stats (channel_id, username, first_seen, last_seen, "
                "total_chat_lines, total_time_connected, current_session_start) VALUES "
                "(1, 'alice', 100, 150, 4, 10, NULL), (2, 'alice', 90, 120, 6, 5, 115), "
                "(2, 'bob', 200, 200, 1, 0, NULL)"
            )
        )
        run(
            text(
                "INSERT INTO channel_stats (channel_id, max_users, max_users_ts, max_connected, "
                "max_connected_ts, last_updated) VALUES (1, 5, 101, 9, 102, 150), "
                "(2, 7, 201, 3, 202, 120)"
            )
        )
        run(
            text(
                "INSERT INTO bot_status (channel_id, bot_name, last_updated) VALUES "
                "(1, 'old', 100), (2, 'new', 200)"
            )
        )
        run(
            text(
                "INSERT INTO plugin_kv (channel_id, namespace, key, value, updated_at) VALUES "
                "(1, 'p', 'shared', 'older', 1), (2, 'p', 'shared', 'newer', 2), "
                "(2, 'p', 'own', 'moved', 1)"
            )
        )
        run(
            text(
                "INSERT INTO outbound_messages (channel_id, created_at, recipient, message) "
                "VALUES (2, 5, 'carol', 'waiting')"
            )
        )
        run(
            text(
                "CREATE TABLE plug_scores (channel_id INTEGER NOT NULL REFERENCES channels(id), "
                "player TEXT NOT NULL, score INTEGER NOT NULL, UNIQUE (channel_id, player))"
            )
        )
        run(text("INSERT INTO plug_scores VALUES (1, 'alice', 3), (2, 'alice', 8), (2, 'bob', 2)"))
    engine.dispose()


def test_the_migration_folds_a_split_channel(db_url):
    schema.upgrade(db_url, "0002")
    _seed_split(db_url)
    assert schema.upgrade(db_url, FOLD) == ("0002", FOLD)

    q = lambda sql: _rows(db_url, sql)  # noqa: E731
    # The oldest row (lowest id) is kept, lower-cased, with the earliest creation time.
    assert q("SELECT id, name, created_at FROM channels ORDER BY id") == [
        (1, "cytu.be/mychan", 10),
        (3, "cytu.be/other", None),
    ]
    assert q("SELECT channel_id, message FROM chat_messages ORDER BY ts") == [
        (1, "one"),
        (1, "two"),
        (3, "three"),
    ]
    assert q(
        "SELECT username, first_seen, last_seen, total_chat_lines, total_time_connected, "
        "current_session_start FROM user_stats WHERE channel_id = 1 ORDER BY username"
    ) == [("alice", 90, 150, 10, 15, 115), ("bob", 200, 200, 1, 0, None)]
    assert q("SELECT count(*) FROM user_stats") == [(2,)]
    assert q(
        "SELECT channel_id, max_users, max_users_ts, max_connected, max_connected_ts, "
        "last_updated FROM channel_stats"
    ) == [(1, 7, 201, 9, 102, 150)]
    assert q("SELECT channel_id, bot_name FROM bot_status") == [(1, "new")]
    assert q("SELECT channel_id, key, value FROM plugin_kv ORDER BY key") == [
        (1, "own", "moved"),
        (1, "shared", "newer"),
    ]
    assert q("SELECT channel_id, recipient FROM outbound_messages") == [(1, "carol")]
    # A plugin's table: rows move over, the kept channel's row wins a collision.
    assert q("SELECT channel_id, player, score FROM plug_scores ORDER BY player") == [
        (1, "alice", 3),
        (1, "bob", 2),
    ]
    # And back down: nothing to undo, the schema is 0002's.
    assert schema.downgrade(db_url, "0002") == (FOLD, "0002")
    assert q("SELECT count(*) FROM channels") == [(2,)]


@pytest_twisted.ensureDeferred
async def test_a_folded_database_is_read_under_either_spelling(sqlite_url):
    from twisted.internet import reactor

    schema.upgrade(sqlite_url, "0002")
    _seed_split(sqlite_url)
    schema.upgrade(sqlite_url)
    storage = SQLStorage(sqlite_url, reactor)
    await storage.connect()
    try:
        lines = await storage.get_recent_messages("cytu.be/MyChan")
        assert sorted(m.message for m in lines) == ["one", "two"]
        assert [m.message for m in await storage.get_recent_messages("cytu.be/OTHER")] == ["three"]
    finally:
        await storage.close()
