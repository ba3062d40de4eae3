"""Live bots for the database service's tests: the socket.io peer, a real
``twistd --reactor=asyncio rosey`` bot (its own database, or ``[database] mode = "service"``),
what the bot said, and chat rows read back per channel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from rosey.storage.engine import make_oneshot_engine
from rosey.storage.tables import channels, chat_messages
from tests.daemon.test_twistd import PASSWORD, write_config
from tests.dbbus.service import ServiceProcess
from tests.peers.cytube import CyTubePeer, lab_accounts

#: What ``!stats`` answers when the database service does not answer in time.
UNAVAILABLE = "Sorry, my records are not available right now."


def start_peer() -> CyTubePeer:
    """A lab channel on the socket.io peer, the bot's account ``labbot`` among its accounts."""
    return CyTubePeer("labchan", accounts=lab_accounts(PASSWORD), connect_capacity=100).start()


@pytest.fixture
def peers() -> Iterator[list[CyTubePeer]]:
    """Append :func:`start_peer`'s peers to this list; each is stopped at the end."""
    started: list[CyTubePeer] = []
    yield started
    for p in started:
        p.stop()


def said(peer: CyTubePeer) -> list[str]:
    """Every chat line the bot sent to ``peer``."""
    return [str(r.data.get("msg")) for r in peer.events("chatMsg", "labbot")]


def label(peer: CyTubePeer) -> str:
    """The channel's storage key as the bot names it (``127.0.0.1:PORT/labchan``)."""
    return f"{peer.site.split('://')[1]}/labchan"


def start_bot(
    directory: Path, site: str, *, nats_url: str | None = None, db_url: str | None = None
) -> ServiceProcess:
    """A bot on ``site`` in ``directory``: in service mode on ``nats_url``'s bus, or with its
    own database at ``db_url`` (no bus)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = write_config(directory, site)
    extra = ""
    if nats_url is not None:
        extra += f'\n[bus]\nurl = "{nats_url}"\n\n[database]\nmode = "service"\n'
    if db_url is not None:
        extra += f'\n[database]\nurl = "{db_url}"\n'
    config.write_text(config.read_text() + extra)
    return ServiceProcess(config, directory, plugin="rosey")


def chat_rows(url: str, channel: str) -> list[tuple[str, str]]:
    """``(username, message)`` of every chat row of ``channel``, sorted (duplicates kept)."""
    engine = make_oneshot_engine(url)
    query = (
        select(chat_messages.c.username, chat_messages.c.message)
        .join(channels, channels.c.id == chat_messages.c.channel_id)
        .where(channels.c.name == channel)
    )
    try:
        with engine.connect() as conn:
            return sorted((str(u), str(m)) for u, m in conn.execute(query))
    except Exception:  # not migrated yet
        return []
    finally:
        engine.dispose()
