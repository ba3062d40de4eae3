"""What the peer sends: the join burst and the pre-encoded event stream.

Every payload has the shape of the recorded CyTube 3.86 frames in ``tests/fixtures`` (read
through the wire benchmark's corpus loader): chat lines are the recorded ``chatMsg`` payloads
of ordinary users (plain text, HTML specials, links, greentext, ``/me``, filters, emoji, a
320-character line), each with its own ``time`` and a numbered text so no two are alike;
users have the moderator view's ``meta`` (aliases, cloaked IP) a rank-3 bot receives.

The stream is built once per peer, deterministically (``seed``), as one ``bytes`` of websocket
frames: ``events`` events in a mix of chat, joins and leaves, then a final marker chat line,
then an Engine.IO ping ``2`` whose pong tells the peer the client has handled everything.
Joins and leaves move users between the channel and a pool of as many offline regulars, as in
a real channel where the same people come and go (not an endless supply of new names).
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass
from typing import Any

from bench.e2e.frames import server_text
from bench.wire_bench import build_corpus
from tests.peers.shapes import DEFAULT_PERMISSIONS, default_options, format_time, pack_media

BOT = "labbot"
BOT_RANK = 3
MARKER = "e2e-bench: end of stream"
START_MS = 1_795_300_000_000  # the lab captures' clock (Nov 2026): chat times count up from here

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def event(name: str, data: Any) -> str:
    """A socket.io event frame's text: ``42["name",data]``."""
    return "42" + _dumps([name, data])


@dataclass(frozen=True)
class Mix:
    """Shares of the stream's events (the rest of 1.0 is chat)."""

    joins: float = 0.10
    leaves: float = 0.10


@dataclass(frozen=True)
class Stream:
    """The pre-encoded stream and what it holds (the marker line counted in ``chat``)."""

    data: bytes
    events: int
    chat: int
    joins: int
    leaves: int


def recorded_chat() -> list[tuple[str, dict[str, Any]]]:
    """Distinct ``(msg, meta)`` of recorded chat by ordinary users (no bot, no server
    whispers, no commands): the variety of real CyTube chat HTML."""
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    for frame in build_corpus(1).frames:
        if not frame.startswith('42["chatMsg",'):
            continue
        data = json.loads(frame[2:])[1]
        user, msg = data.get("username"), data.get("msg")
        if user in (BOT, "[server]") or not isinstance(msg, str) or msg.startswith("!"):
            continue
        seen.setdefault(msg + _dumps(data.get("meta")), (msg, data.get("meta") or {}))
    return list(seen.values())


def user_entry(name: str, rank: float) -> dict[str, Any]:
    """A ``userlist``/``addUser`` entry as a moderator sees it (fixture shape)."""
    ip = f"+Jk.{zlib.crc32(name.encode()) & 0xFFF:03x}.{len(name):03d}.x{name[-2:]}"
    return {
        "name": name,
        "rank": rank,
        "profile": {"image": "", "text": ""},
        "meta": {"afk": False, "muted": False, "smuted": False, "aliases": [name], "ip": ip},
    }


def base_users(count: int) -> list[str]:
    """The names in the burst's ``userlist`` besides the bot."""
    return [f"viewer{i:04d}" for i in range(count - 1)]


def playlist(items: int, users: list[str], seed: int) -> list[dict[str, Any]]:
    """``items`` playlist entries (``{media, uid, temp, queueby}``, fixture shape)."""
    rng = random.Random(seed)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    words = ["Lab", "Movie", "Night", "Live", "Official", "Video", "Trailer", "Music", "Part"]
    out = []
    for uid in range(items):
        media_id = "".join(rng.choice(alphabet) for _ in range(11))
        title = " ".join(rng.choice(words) for _ in range(5)) + f" #{uid}"
        media = pack_media(media_id, title, rng.randint(30, 7200), "yt", {})
        out.append(
            {"media": media, "uid": uid, "temp": rng.random() < 0.2, "queueby": rng.choice(users)}
        )
    return out


def join_burst(channel: str, users: int, items: int, seed: int = 1) -> list[str]:
    """The join burst's frames for ``channel``: ``users`` users (the bot among them, rank 3)
    and ``items`` playlist entries; ``userlist`` then ``usercount`` close it."""
    names = base_users(users)
    entries = playlist(items, [*names, BOT], seed)
    total = sum(e["media"]["seconds"] for e in entries)
    userlist = [user_entry(n, 1 if i % 10 else 0) for i, n in enumerate(names)]
    userlist.append(user_entry(BOT, BOT_RANK))
    emotes = [
        {
            "name": f":e{i}:",
            "image": f"https://media.example.invalid/e{i}.png",
            "source": f"(^|\\s):e{i}:(?!\\S)",
        }
        for i in range(50)
    ]
    return [
        event("setPermissions", DEFAULT_PERMISSIONS),
        event("setPlaylistLocked", False),
        event("emoteList", emotes),
        event("channelOpts", default_options(channel)),
        event("setPlaylistMeta", {"count": items, "rawTime": total, "time": format_time(total)}),
        event("playlist", entries),
        event("userlist", userlist),
        event("usercount", users + 3),
    ]


def build_stream(events: int, users: int, mix: Mix | None = None, seed: int = 1) -> Stream:
    """``events`` events (chat, ``addUser`` of new users, ``userLeave`` of present ones), the
    marker chat line and a ping, as one buffer of websocket frames."""
    mix = mix or Mix()
    rng = random.Random(seed)
    shapes = recorded_chat()
    present = base_users(users)  # who may chat or leave (never the bot)
    # Regulars come and go: joins are drawn from a pool of known names that are offline.
    offline = [f"regular{i:05d}" for i in range(max(1, users))]
    chat = joins = leaves = 0
    frames: list[bytes] = []
    append = frames.append
    for i in range(events):
        r = rng.random()
        if r < mix.joins and offline:
            name = _take(offline, rng)
            present.append(name)
            append(server_text(event("addUser", user_entry(name, 1))))
            joins += 1
        elif r < mix.joins + mix.leaves and len(present) > 1:
            name = _take(present, rng)
            offline.append(name)
            append(server_text(event("userLeave", {"name": name})))
            leaves += 1
        else:
            msg, meta = shapes[rng.randrange(len(shapes))]
            data = {
                "username": rng.choice(present),
                "msg": f"{msg} ({i})",
                "meta": meta,
                "time": START_MS + i,
            }
            append(server_text(event("chatMsg", data)))
            chat += 1
    marker = {"username": present[0], "msg": MARKER, "meta": {}, "time": START_MS + events}
    append(server_text(event("chatMsg", marker)))
    append(server_text("2"))
    return Stream(b"".join(frames), events + 1, chat + 1, joins, leaves)


def _take(names: list[str], rng: random.Random) -> str:
    """Remove and return a random name (swap with the last: O(1))."""
    k = rng.randrange(len(names))
    names[k], names[-1] = names[-1], names[k]
    return names.pop()
