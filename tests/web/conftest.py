"""The status page's fixtures: a channel with a year of history in a real SQLite file, a bot
whose mirror is fed real event payloads, and the site listening on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor as _reactor
from twisted.web.server import Site

from rosey import events
from rosey.bot.service import Bot
from rosey.daemon.assemble import RoseyDaemon, build
from rosey.daemon.config import parse
from rosey.daemon.web import when_listening
from rosey.events import Event
from rosey.interfaces import channel_key
from rosey.storage.sql import SQLStorage
from rosey.web.api import StatusData
from rosey.web.site import make_root
from rosey.wire.fake import FakeConnection
from tests.peers.cytube import CyTubePeer, lab_accounts
from tests.web.history import fill_year

LABEL = "cytu.be/WebChan"
EMPTY = "cytu.be/quiet"
NOW = 1_780_000_000.0
TOKEN = "s3cret-token"
XSS = "<script>window.pwned=1</script>\"'&"
reactor: Any = _reactor
RTL = "שלום עולם \u202e"


def feed(bot: Bot, name: str, data: Any = None, **kw: Any) -> None:
    """One event through the bot, as the connection would deliver it."""
    bot.handle_event(Event(name, data, **kw))


def populate(bot: Bot) -> None:
    """Users (one with markup in the name), a playlist and what plays (markup in the title)."""
    feed(
        bot,
        events.USER_LIST,
        [
            {"name": "alice", "rank": 3, "meta": {"afk": False}},
            {"name": "bob_afk", "rank": 1, "meta": {"afk": True}},
            {"name": XSS[:20], "rank": 1, "meta": {}},
        ],
    )
    feed(bot, "setLeader", "alice")
    feed(bot, "usercount", 7)
    items: list[dict[str, Any]] = [
        {
            "uid": 1,
            "media": {"type": "yt", "id": "abc", "title": XSS, "seconds": 200, "duration": "03:20"},
            "temp": False,
            "queueby": "alice",
        },
        {
            "uid": 2,
            "media": {
                "type": "fi",
                "id": "javascript:alert(1)",
                "title": RTL,
                "seconds": 60,
                "duration": "01:00",
            },
            "temp": True,
            "queueby": "bob_afk",
        },
    ]
    feed(bot, "playlist", items)
    feed(bot, "setCurrent", 1)
    feed(bot, "changeMedia", {**items[0]["media"], "currentTime": 50, "paused": False})


@dataclass
class Served:
    base: str
    storage: SQLStorage
    bot: Bot
    data: StatusData


#: Markup that would change the page's title if it ever ran.
RUNS = "<img src=x onerror=\"document.title='pwned'\">"
NAME = "<b>evil</b>"
PASSWORD = "web-test-pw"
#: The peer, the in-process daemon with [web] on, the site's base URL, what it serves from.
Running = tuple[CyTubePeer, RoseyDaemon, str, StatusData]


@pytest.fixture(scope="session")
def year_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("web") / "year.sqlite")
    fill_year(path, channel_key(LABEL), NOW)
    return path


@pytest_twisted.async_yield_fixture()
async def served(year_db: str) -> AsyncIterator[Served]:
    from twisted.internet.task import Clock

    clock = Clock()
    clock.advance(NOW)
    storage = SQLStorage(f"sqlite:///{year_db}", reactor)
    await storage.connect()
    bot = Bot(
        FakeConnection("WebChan"), clock=clock, storage=storage, storage_key=channel_key(LABEL)
    )
    quiet = Bot(FakeConnection("quiet"), clock=clock, storage=storage, storage_key=EMPTY)
    populate(bot)
    root, data = make_root({LABEL: bot, EMPTY: quiet}, storage, clock, TOKEN)
    port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
    try:
        yield Served(f"http://127.0.0.1:{port.getHost().port}", storage, bot, data)
    finally:
        for feed_ in data.feeds.values():
            feed_.close_all()
        await port.stopListening()
        await storage.close()


@pytest_twisted.async_yield_fixture()
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    from twisted.internet import reactor

    peer = CyTubePeer(
        "labchan",
        accounts=lab_accounts(PASSWORD),
        media={"xss1": {"title": f"{RUNS} Title \"q\" 'q' مرحبا", "seconds": 600}},
        connect_capacity=100,
    ).start()
    db = tmp_path / "rosey.sqlite"
    host = peer.site.split("://")[1]
    fill_year(str(db), channel_key(f"{host}/labchan"), reactor.seconds())
    raw = {
        "channel": [
            {
                "site": peer.site,
                "name": "labchan",
                "username": "labbot",
                "password_env": "PW",
            }
        ],
        "database": {"url": f"sqlite:///{db}"},
        "web": {"enabled": True, "listen": "tcp:0:interface=127.0.0.1", "token_env": "TOKEN"},
    }
    daemon = build(parse(raw, {"PW": PASSWORD, "TOKEN": TOKEN}), reactor, migrated=True)
    web: Any = daemon.getServiceNamed("web")
    daemon.startService()
    try:
        port = await when_listening(web)
        base = f"http://127.0.0.1:{port.getHost().port}"  # type: ignore[attr-defined]
        await peer.when(lambda p: "labbot" in p.users, timeout=20)
        yield peer, daemon, base, web.web_data
    finally:
        await daemon.stopService()
        peer.stop()
