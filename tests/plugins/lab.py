"""A Bot on a FakeConnection and a ``task.Clock`` for plugin tests, fed CyTube 3.86's exact
payloads through the real normalizer (as in ``tests/bot/test_service.py``)."""

from __future__ import annotations

from typing import Any

from twisted.internet import task

from rosey.bot.service import Bot
from rosey.storage.interface import IStorage
from rosey.wire.fake import FakeConnection
from rosey.wire.normalize import Normalizer

ME = "rosey"


def user(name: str, rank: float = 1) -> dict[str, Any]:
    """A ``userlist``/``addUser`` entry."""
    return {
        "name": name,
        "rank": rank,
        "profile": {"image": "", "text": ""},
        "meta": {"afk": False, "muted": False, "smuted": False, "aliases": [name]},
    }


class Lab:
    """One channel: a bot (not started) that a test gives plugins, then :meth:`join`\\ s."""

    def __init__(
        self,
        channel: str = "labchan",
        *,
        clock: task.Clock | None = None,
        storage: IStorage | None = None,
        **bot_kwargs: Any,
    ) -> None:
        if clock is None:
            clock = task.Clock()
            clock.advance(1_000)
        self.clock = clock
        self.conn = FakeConnection(channel=channel, username=ME)
        self.bot = Bot(self.conn, clock=clock, storage=storage, **bot_kwargs)
        self.normalizer = Normalizer()
        self.ms = 1_800_000_000_000
        self.echoed = 0

    def join(self, rank: float = 3) -> Lab:
        """Start the bot (and its children: a plugin host), log in and join."""
        self.bot.startService()
        self.conn.connect()
        self.server("login", {"success": True, "name": ME, "guest": False})
        self.server("rank", rank)
        self.normalizer.begin_join()
        self.server("userlist", [user(ME, rank), user("alice", 1), user("mod", 2)])
        self.conn.make_ready()
        return self

    def server(self, name: str, data: Any = None) -> None:
        """The server sent event ``name`` with ``data``."""
        self.conn.feed(self.normalizer.normalize(name, data))

    def chat(self, who: str, text: str) -> list[str]:
        """``who`` says ``text``; returns what the bot said in answer (echoed, as the server
        does, so the send queue moves on)."""
        before = len(self.said())
        self.ms += 1000
        self.server("chatMsg", {"username": who, "msg": text, "meta": {}, "time": self.ms})
        self.clock.advance(60)  # past every cooldown
        self.echo()
        return self.said()[before:]

    def said(self) -> list[str]:
        """Every chat line the bot sent, in order."""
        return [data["msg"] for name, data in self.conn.sent if name == "chatMsg"]

    def echo(self) -> None:
        """The server echoes the bot's chat lines sent since the last echo."""
        lines = self.said()
        for text in lines[self.echoed :]:
            self.ms += 1
            self.server("chatMsg", {"username": ME, "msg": text, "meta": {}, "time": self.ms})
        self.echoed = len(lines)
