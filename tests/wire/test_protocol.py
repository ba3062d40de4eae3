"""The session driver (heartbeat, acks, bad frames) on ``task.Clock``, and the Autobahn adapter
on a real loopback websocket (binary, non-UTF-8 and oversized frames never close it)."""

from __future__ import annotations

from typing import Any, cast

import pytest
import pytest_twisted
from twisted.internet.base import DelayedCall
from twisted.internet.defer import CancelledError
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.task import Clock

from rosey.errors import AckTimeout, ConnectionClosed, NotConnected, SocketIOError
from rosey.wire import codec
from rosey.wire.driver import SessionDriver
from rosey.wire.protocol import CyTubeClientFactory
from rosey.wire.session import Session
from tests.wire.test_bad_input_live import RawCyTube, RawSite, rosey_log  # noqa: F401

OPEN4 = codec.encode_open("sid", ping_interval=25, ping_timeout=120, max_payload=1_048_576)
OPEN3 = codec.encode_open("sid", ping_interval=25, ping_timeout=20, max_payload=1_048_576)


class Recorder:
    """A SessionHandler that writes down what it is told."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def session_opened(self, driver: SessionDriver) -> None:
        self.calls.append(("opened",))

    def session_connected(self, driver: SessionDriver, sid: str | None) -> None:
        self.calls.append(("connected", sid))

    def session_event(self, driver: SessionDriver, packet: codec.EventPacket) -> None:
        self.calls.append(("event", packet.name, packet.data))

    def session_closed(self, driver: SessionDriver, reason: str, refusal: str | None) -> None:
        self.calls.append(("closed", reason, refusal))

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


class Wire:
    """A driver on a Clock, with the websocket replaced by two lists."""

    def __init__(self, eio: int = 4) -> None:
        self.clock = Clock()
        self.sent: list[str] = []
        self.closes: list[bool] = []
        self.handler = Recorder()
        self.driver = SessionDriver(
            Session(eio), self.clock, self.sent.append, self.closes.append, self.handler
        )
        self.driver.open()

    def connect(self, open_frame: str = OPEN4) -> None:
        self.driver.receive(open_frame)
        self.driver.receive('40{"sid":"nsp"}')


def timers(w: Wire) -> list[Any]:
    """The functions of the calls scheduled on the wire's clock."""
    return [cast(DelayedCall, c).func for c in w.clock.getDelayedCalls()]


def test_handshake_connects_the_namespace_inside_the_protocol() -> None:
    w = Wire()
    w.driver.receive(OPEN4)
    assert w.sent == ["40"]
    assert not w.driver.connected
    w.driver.receive('40{"sid":"nsp"}')
    assert w.driver.connected
    assert w.driver.sid == "nsp"
    assert w.handler.calls == [("opened",), ("connected", "nsp")]


def test_server_ping_is_answered_at_once() -> None:
    w = Wire()
    w.connect()
    w.driver.receive("2")
    assert w.sent[-1] == "3"


def test_heartbeat_timeout_closes_after_interval_plus_timeout_without_ping() -> None:
    w = Wire()
    w.connect()
    w.clock.advance(100)
    w.driver.receive("2")  # a ping at t=100 moves the deadline to 245
    w.clock.advance(144.9)
    assert w.closes == []
    w.clock.advance(0.2)
    assert w.closes == [True]  # a dead peer: drop the TCP connection, no close handshake
    w.driver.lost("websocket closed (code 1006)")
    assert w.handler.calls[-1] == ("closed", "heartbeat timeout: no ping from the server", None)
    assert w.clock.getDelayedCalls() == []


def test_heartbeat_runs_from_the_open_packet_before_the_namespace_connects() -> None:
    w = Wire()
    w.driver.receive(OPEN4)
    w.clock.advance(145)
    assert w.closes == [True]


def test_eio3_client_pings_every_interval_and_closes_without_pong() -> None:
    w = Wire(eio=3)
    w.driver.receive(OPEN3)
    assert w.sent == []  # in EIO 3 the server connects the namespace by itself
    w.driver.receive("40")
    assert w.driver.connected
    w.clock.advance(25)
    assert w.sent == ["2"]
    w.driver.receive("3")
    w.clock.advance(25)
    assert w.sent == ["2", "2"]
    w.clock.advance(19.9)
    assert w.closes == []
    w.clock.advance(0.2)
    assert w.closes == [True]


def test_events_reach_the_handler_and_emit_frames_them() -> None:
    w = Wire()
    with pytest.raises(NotConnected):
        w.driver.emit("chatMsg", {"msg": "hi"})
    w.connect()
    w.driver.receive('42["chatMsg",{"msg":"yo"}]')
    assert w.handler.calls[-1] == ("event", "chatMsg", {"msg": "yo"})
    w.driver.emit("chatMsg", {"msg": "hi"})
    w.driver.emit("playNext")
    assert w.sent[-2:] == ['42["chatMsg",{"msg":"hi"}]', '42["playNext"]']


def test_emit_refuses_a_frame_over_the_servers_max_payload() -> None:
    w = Wire()
    w.connect()
    with pytest.raises(SocketIOError, match="over the server's 1048576-byte frame limit"):
        w.driver.emit("chatMsg", {"msg": "é" * 600_000})
    assert w.sent == ["40"]


def test_ack_fires_its_own_deferred() -> None:
    w = Wire()
    w.connect()
    first = w.driver.emit_with_ack("newPoll", {"title": "a"})
    second = w.driver.emit_with_ack("newPoll", {"title": "b"})
    assert w.sent[-2:] == ['420["newPoll",{"title":"a"}]', '421["newPoll",{"title":"b"}]']
    w.driver.receive('431[{"error":{"message":"nope"}}]')
    w.driver.receive("430[{}]")
    assert first.result == {}
    assert second.result == {"error": {"message": "nope"}}
    assert timers(w) == [w.driver._on_timer]  # only the heartbeat is left


def test_ack_timeout_uses_the_injected_clock() -> None:
    w = Wire()
    w.connect()
    d = w.driver.emit_with_ack("newPoll", {}, timeout=10)
    failures: list[Any] = []
    d.addErrback(failures.append)
    w.clock.advance(9.9)
    assert not failures
    w.clock.advance(0.1)
    assert failures[0].check(AckTimeout)
    assert "newPoll within 10 s" in str(failures[0].value)
    w.driver.receive("430[{}]")  # too late: logged, ignored
    assert w.driver.connected


def test_pending_acks_fail_with_connection_closed_when_the_session_drops() -> None:
    w = Wire()
    w.connect()
    ds = [w.driver.emit_with_ack("newPoll", {}) for _ in range(3)]
    failures: list[Any] = []
    for d in ds:
        d.addErrback(failures.append)
    w.driver.lost("websocket closed (code 1006)")
    assert [f.check(ConnectionClosed) for f in failures] == [ConnectionClosed] * 3
    assert w.clock.getDelayedCalls() == []


def test_cancelling_an_ack_forgets_it() -> None:
    w = Wire()
    w.connect()
    d = w.driver.emit_with_ack("newPoll", {})
    d.addErrback(lambda f: f.trap(CancelledError))
    d.cancel()
    assert timers(w) == [w.driver._on_timer]


def test_when_connected_and_when_closed_are_fresh_per_caller() -> None:
    w = Wire()
    a, b = w.driver.when_connected(), w.driver.when_connected()
    assert a is not b
    w.connect()
    assert a.result == "nsp"
    assert b.result == "nsp"
    assert w.driver.when_connected().result == "nsp"
    c1, c2 = w.driver.when_closed(), w.driver.when_closed()
    w.driver.lost("gone")
    assert c1.result == "gone"
    assert c2.result == "gone"
    late = w.driver.when_connected()
    late.addErrback(lambda f: f.trap(ConnectionClosed))


def test_connect_refusal_closes_and_reports_the_servers_message() -> None:
    w = Wire()
    w.driver.receive(OPEN4)
    w.driver.receive('44{"message":"Rate limit exceeded"}')
    assert w.closes == [False]  # CyTube keeps the socket open after 44: rosey closes it
    w.driver.lost("websocket closed (code 1000)")
    assert w.handler.calls[-1] == (
        "closed",
        "connect refused: Rate limit exceeded",
        "Rate limit exceeded",
    )


def test_polite_close_sends_41_first() -> None:
    w = Wire()
    w.connect()
    w.driver.close("bye")
    assert w.sent[-1] == "41"
    assert w.closes == [False]
    with pytest.raises(NotConnected):
        w.driver.emit("chatMsg", {})


def test_bad_frames_are_counted_and_the_session_stays_up(rosey_log: list[str]) -> None:  # noqa: F811
    w = Wire()
    w.connect()
    for frame in ["", "42[", "x", '42["ok"'] * 2:
        w.driver.receive(frame)
    assert w.driver.bad_frames == 8
    assert w.driver.connected
    assert len([line for line in rosey_log if "ignored a bad frame" in line]) == 8


def test_a_failing_handler_is_logged_and_does_not_break_the_driver(
    rosey_log: list[str],  # noqa: F811
) -> None:
    w = Wire()

    def boom(*args: Any) -> None:
        raise RuntimeError("handler bug")

    w.handler.session_event = boom  # type: ignore[method-assign,assignment]
    w.connect()
    w.driver.receive('42["chatMsg",{}]')
    w.driver.receive("2")
    assert w.sent[-1] == "3"
    assert any("handler bug" in line for line in rosey_log)


# -- the Autobahn adapter on a real websocket -----------------------------------------------


async def adapter_pair(max_message: int) -> tuple[RawSite, Recorder, Any]:
    from twisted.internet import reactor

    site = await RawSite(RawCyTube()).start()
    recorder = Recorder()
    factory = CyTubeClientFactory(recorder, clock=reactor, max_message=max_message, reactor=reactor)
    port = site.ports[0].getHost().port
    factory.set_url(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket")
    proto = await TCP4ClientEndpoint(reactor, "127.0.0.1", port).connect(factory)
    await site.server.when(lambda: "40" in site.server.received)
    return site, recorder, proto


@pytest_twisted.ensureDeferred
async def test_adapter_drops_binary_bad_utf8_and_oversized_messages_and_stays_up(
    rosey_log: list[str],  # noqa: F811
) -> None:
    site, recorder, proto = await adapter_pair(max_message=4096)
    try:
        (ws,) = site.server.conns
        ws.send(b"\x01\x02", binary=True)
        ws.send(b"42\xc3\x28")
        ws.send("42" + "a" * 5000)  # one frame over the limit
        ws.send("42" + "b" * 5000, fragment=1000)  # fragments that add up to too much
        ws.send('42["chatMsg","' + "c" * 4000 + '"]', fragment=1000)  # fragmented, under it
        ws.send('42["chatMsg","still up"]')
        await site.server.when(lambda: ("event", "chatMsg", "still up") in recorder.calls)
        bad = [line for line in rosey_log if "ignored a bad frame" in line]
        assert len(bad) == 4
        assert "binary frame of 2 bytes" in bad[0]
        assert "not UTF-8" in bad[1]
        assert "message of 5002 bytes is over the 4096-byte limit" in bad[2]
        assert "message of 5002 bytes is over the 4096-byte limit" in bad[3]
        assert ("event", "chatMsg", "c" * 4000) in recorder.calls
        assert proto.driver.connected
        assert not site.server.closed
        # the adapter answers pings through the session
        ws.send("2")
        await site.server.when(lambda: "3" in site.server.received)
    finally:
        proto.driver.close("test over")
        await site.server.when(lambda: bool(site.server.closed))
        await site.stop()
    assert recorder.names()[-1] == "closed"
    assert site.server.received[-1] == "41"


def test_close_handshake_waits_for_the_server_even_at_the_end_of_a_second() -> None:
    """Autobahn schedules its close-handshake timeout on txaio's batched timer, which truncates
    deadlines to whole seconds: with the default 1 s, a close started at x.999 s gives up after
    1 ms and aborts the socket, and the RST discards the ``41`` and close frame just written (this
    made a live test fail about 1 run in 14). rosey's timeout leaves the server ≥ 2 s."""
    factory = CyTubeClientFactory(Recorder(), clock=Clock())
    timer = factory._batched_timer
    delays: list[float] = []
    timer._get_seconds = lambda: 1000.999
    timer._create_delayed_call = lambda delay, *a: delays.append(delay)
    timer.call_later(factory.closeHandshakeTimeout, lambda: None)
    assert delays
    assert delays[0] >= 2.0
