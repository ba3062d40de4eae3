"""A year of synthetic channel history in a SQLite file, written in bulk (a second or two).

Shared by the API tests and bench/web_bench.py. The numbers are a busy small channel: a chat
line every few minutes by day, a user-count sample every 5 minutes, a media change every 15.
"""

from __future__ import annotations

import random
import sqlite3

from rosey.storage import schema

DAY = 86400
YEAR_DAYS = 365
USERS = [f"user{i}" for i in range(40)]


def fill_year(path: str, channel: str, now: float, seed: int = 16) -> dict[str, int]:
    """Migrate ``path`` and fill a year of history for ``channel`` ending at ``now``; the row
    counts per table."""
    schema.upgrade(f"sqlite:///{path}")
    rng = random.Random(seed)
    start = now - YEAR_DAYS * DAY
    chat = []
    t = start
    while t < now:
        # Busier in the evening (UTC): the heat map has a shape.
        hour = int(t % DAY // 3600)
        t += rng.expovariate(1 / (120 if 17 <= hour <= 23 else 600))
        chat.append((t, rng.choice(USERS[: 10 + hour]), f"line at {t:.0f}"))
    counts = [
        (start + i * 300, 5 + (i // 12) % 20, 8 + (i // 12) % 25)
        for i in range(YEAR_DAYS * DAY // 300)
    ]
    media = [
        (start + i * 900, "yt", f"vid{rng.randrange(3000)}", 900, rng.choice(USERS))
        for i in range(YEAR_DAYS * DAY // 900)
    ]
    db = sqlite3.connect(path)
    with db:
        cid = db.execute(
            "INSERT INTO channels (name, created_at) VALUES (?, ?)", (channel, start)
        ).lastrowid
        db.executemany(
            "INSERT INTO chat_messages (channel_id, ts, username, message) "
            f"VALUES ({cid}, ?, ?, ?)",
            chat,
        )
        db.executemany(
            "INSERT INTO user_count_history (channel_id, ts, chat_users, connected_users) "
            f"VALUES ({cid}, ?, ?, ?)",
            counts,
        )
        db.executemany(
            "INSERT INTO media_history (channel_id, started_at, media_type, media_id, title, "
            f"duration, queued_by) VALUES ({cid}, ?, ?, ?, 'Title of ' || ?, ?, ?)",
            [(t, k, i, i, d, q) for t, k, i, d, q in media],
        )
        db.execute(
            "INSERT INTO channel_stats (channel_id, max_users, max_users_ts, max_connected, "
            f"max_connected_ts, last_updated) VALUES ({cid}, 24, ?, 32, ?, ?)",
            (start + 1000, start + 2000, now),
        )
        totals: dict[str, int] = {}
        for _, user, _ in chat:
            totals[user] = totals.get(user, 0) + 1
        db.executemany(
            "INSERT INTO user_stats (channel_id, username, first_seen, last_seen, "
            f"total_chat_lines) VALUES ({cid}, ?, ?, ?, ?)",
            [(u, start, now, n) for u, n in totals.items()],
        )
    db.close()
    return {"chat_messages": len(chat), "user_count_history": len(counts), "media": len(media)}
