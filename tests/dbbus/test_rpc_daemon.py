"""``twistd --reactor=asyncio rosey`` with ``[database] mode = "service"``: a real daemon, the
socket.io peer, a real nats-server, and the database service's responder in its own process.

While no service runs the bot answers ``!ping`` and ``!stats`` says, within 2 s, that the data
is unavailable; once a responder answers on the same SQLite file, ``!stats`` has the data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest_twisted

from rosey.storage.sql import SQLStorage
from tests.bus.natsserver import NatsServer
from tests.daemon.test_twistd import REPO, TWISTD, Output, environment, peer, write_config
from tests.dbbus.live import UNAVAILABLE, said
from tests.peers.cytube import CyTubePeer
from tests.waiting import eventually

__all__ = ["peer"]  # the fixture, imported for pytest


@pytest_twisted.ensureDeferred
async def test_service_mode_answers_without_the_service_then_with_it(
    tmp_path: Path, peer: CyTubePeer, nats_server: NatsServer, migrated_url: str
) -> None:
    from twisted.internet import reactor

    config = write_config(tmp_path, peer.site)
    config.write_text(
        config.read_text() + f'\n[bus]\nurl = "{nats_server.url}"\n\n[database]\nmode = "service"\n'
    )
    label = f"{peer.site.split('://')[1]}/labchan"
    daemon, service = Output(), Output()
    argv = [str(TWISTD), "--reactor=asyncio", "--nodaemon", "--pidfile=", "rosey"]
    process = reactor.spawnProcess(
        daemon, str(TWISTD), [*argv, "--config", str(config)], env=environment(), path=str(tmp_path)
    )
    responder = None
    try:
        await peer.when(lambda p: "labbot" in p.users, timeout=20)
        peer.add_virtual_user("alice", 1)
        peer.add_virtual_user("bob", 1)
        peer.chat("alice", "!ping")
        await peer.when(lambda p: "pong" in said(p), timeout=10)

        asked = reactor.seconds()
        peer.chat("alice", "!stats")
        await peer.when(lambda p: UNAVAILABLE in said(p), timeout=10)
        assert reactor.seconds() - asked < 2.0

        # The service's database has alice; the service starts on it.
        storage = SQLStorage(migrated_url, reactor)
        await storage.connect()
        await storage.save_user_stats(label, "alice", first_seen=1.0, chat_lines=42)
        await storage.close()
        responder = reactor.spawnProcess(
            service,
            sys.executable,
            [sys.executable, "-m", "tests.dbbus.responder_child", migrated_url, nats_server.url],
            env=environment(),
            path=str(REPO),
        )
        await eventually(lambda: "ready" in service.text, 20)
        asked = reactor.seconds()
        peer.chat("bob", "!stats alice")
        await peer.when(lambda p: any(m.startswith("alice: 42 chat lines") for m in said(p)), 10)
        assert reactor.seconds() - asked < 2.0
    finally:
        for proc, out in ((process, daemon), (responder, service)):
            if proc is not None and not out.ended.called:
                proc.signalProcess("TERM")
        status = await daemon.ended.addTimeout(30, reactor)
        if responder is not None:
            await service.ended.addTimeout(30, reactor)
    assert status == 0, daemon.text
    assert "Traceback" not in daemon.text
    assert "Traceback" not in service.text
    assert "database the database service (bus)" in daemon.text
