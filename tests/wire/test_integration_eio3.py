"""rosey with ``eio=3`` against a real socket.io 2 server (node): the client pings, the server
connects the namespace by itself. Skipped when node or the peer's node_modules are missing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_twisted

from rosey import events
from rosey.events import Event
from rosey.wire.connection import CyTubeConnection
from rosey.wire.retry import KickPolicy, ReconnectPolicy
from tests.peers.node_peer import NodePeer, missing
from tests.waiting import eventually

# At collection: a pytest.skip raised in the async fixture below would be an error.
_MISSING = missing()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

FAST = ReconnectPolicy(
    initial_delay=0.2, max_delay=0.5, jitter=0.0, budget_burst=100, budget_interval=0.1
)


@pytest_twisted.async_yield_fixture()
async def node() -> AsyncIterator[NodePeer]:
    # A short heartbeat: socket.io 2 drops a client that does not ping within 0.3 + 0.7 s.
    peer = NodePeer("labchan", accounts={"labbot": ("pw", 3)}, ping_interval=0.3, ping_timeout=0.7)
    peer.start()
    yield peer
    peer.stop()


async def started(peer: NodePeer, **kwargs: Any) -> tuple[CyTubeConnection, list[Event]]:
    from twisted.internet import reactor

    conn = CyTubeConnection(
        peer.site,
        "labchan",
        username="labbot",
        password="pw",
        eio=3,
        reactor=reactor,
        reconnect=FAST,
        **kwargs,
    )
    seen: list[Event] = []
    conn.subscribe(seen.append)
    conn.startService()
    await conn.when_ready().addTimeout(5, reactor)
    return conn, seen


@pytest_twisted.ensureDeferred
async def test_eio3_logs_in_joins_chats_and_keeps_the_heartbeat(node: NodePeer) -> None:
    conn, seen = await started(node)
    try:
        assert conn.rank == 3
        # The peer's record of what it received comes over its stdout, which may trail the
        # answers rosey already has.
        await node.when(lambda p: [r.event for r in p.received][:2] == ["login", "joinChannel"])
        session = conn.session
        assert session is not None
        assert session.session.eio == 3
        conn.send_message("hi <there>")
        await eventually(lambda: any(e.content == "hi <there>" for e in seen))
        # rosey pings every 0.3 s; without pings node would have dropped it after 1 s
        sent = session.frames_out
        await eventually(lambda: session.frames_out >= sent + 6)
        assert conn.session is session
        assert conn.ready
        assert not [e for e in seen if e.name == events.DISCONNECTED]
    finally:
        await conn.stopService()


@pytest_twisted.ensureDeferred
async def test_eio3_kick_closes_and_rejoins(node: NodePeer) -> None:
    conn, seen = await started(node, kicks=KickPolicy(rejoin_delay=0.3))
    try:
        conn.send_message("kick me")
        await eventually(lambda: any(e.name == events.KICKED for e in seen))
        await eventually(lambda: len([e for e in seen if e.name == events.READY]) == 2)
        await node.when(lambda p: len([r for r in p.received if r.event == "joinChannel"]) == 2)
        assert conn.stopped_for is None
    finally:
        await conn.stopService()
