"""CyTubeConnection without sockets: a SessionDriver on a MemoryReactorClock plays the server.

The connection is started (its ClientService waits on an HTTP answer that never comes), and
each test drives one session by hand through the same SessionHandler calls the Autobahn
protocol makes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import pytest
import pytest_twisted
from treq.testing import StringStubbingResource, StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock
from zope.interface.verify import verifyObject

from rosey import events
from rosey.errors import (
    AckTimeout,
    BadCredentials,
    ChannelPasswordError,
    ConnectionClosed,
    ConnectRefused,
    GuestLoginLimited,
    InvalidUsername,
    JoinTimeout,
    Kicked,
    LoginError,
    NameInUse,
    NameTaken,
    NoSuchChannel,
    NotConnected,
)
from rosey.events import Event
from rosey.interfaces import IConnection
from rosey.wire import codec
from rosey.wire.connection import CyTubeConnection
from rosey.wire.driver import SessionDriver
from rosey.wire.endpoints import websocket_endpoint
from rosey.wire.login import is_fatal, login_error
from rosey.wire.retry import KickPolicy, ReconnectPolicy
from rosey.wire.session import Session
from tests.wire.test_bad_input_live import rosey_log  # noqa: F401

OPEN = codec.encode_open("e", ping_interval=25, ping_timeout=120, max_payload=1_048_576)
NO_JITTER = ReconnectPolicy(jitter=0.0)


class _Hanging:
    def get(self, url: str, **kwargs: Any) -> Deferred[Any]:
        return Deferred()


class Harness:
    """One started connection and one hand-driven session."""

    def __init__(self, **kwargs: Any) -> None:
        self.clock = MemoryReactorClock()
        kwargs.setdefault("username", "labbot")
        kwargs.setdefault("password", "secret")
        kwargs.setdefault("reconnect", NO_JITTER)
        self.conn = CyTubeConnection(
            "https://site.example", "labchan", reactor=self.clock, http=_Hanging(), **kwargs
        )
        self.events: list[Event] = []
        self.conn.subscribe(self.events.append)
        self.conn.startService()
        self.sent: list[str] = []
        self.closes: list[bool] = []
        self.driver = self.new_session()

    def new_session(self) -> SessionDriver:
        self.driver = SessionDriver(
            Session(4), self.clock, self.sent.append, self.closes.append, self.conn
        )
        self.conn.reconnector.session_started()
        self.driver.open()
        return self.driver

    def connect(self) -> None:
        self.driver.receive(OPEN)
        self.driver.receive('40{"sid":"nsp"}')
        self.server("rank", -1)

    def server(self, name: str, data: Any = None) -> None:
        args = () if data is None else (data,)
        self.driver.receive(codec.encode_event(name, *args))

    def out(self) -> list[Any]:
        """What rosey sent, as decoded event [name, data] lists."""
        return [json.loads(t[2:]) for t in self.sent if t.startswith("42[")]

    def names(self) -> list[str]:
        return [e.name for e in self.events]

    def burst(self, rank: float = 3) -> None:
        self.server("rank", rank)
        self.server("chatMsg", {"username": "u", "msg": "old", "meta": {}, "time": 1_000})
        self.server("userlist", [{"name": "u", "rank": 1, "profile": {}, "meta": {}}])

    def idle(self, seconds: float) -> None:
        """Let time pass with the server pinging every 25 s, as CyTube does."""
        while seconds > 0:
            step = min(25.0, seconds)
            self.clock.advance(step)
            self.driver.receive("2")
            seconds -= step

    def join(self, rank: float = 3) -> None:
        self.connect()
        self.server("login", {"success": True, "name": "labbot"})
        self.burst(rank)


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    harness.conn.stopService()


def test_implements_iconnection() -> None:
    harness = Harness()
    assert verifyObject(IConnection, harness.conn)


def test_registered_login_comes_first_then_join_then_ready_after_the_burst(h: Harness) -> None:
    ready = h.conn.when_ready()
    h.connect()
    assert h.out() == [["login", {"name": "labbot", "pw": "secret"}]]
    assert h.conn.connected
    assert not h.conn.ready
    h.server("rank", 1)
    h.server("login", {"success": True, "name": "LabBot"})
    assert h.out()[-1] == ["joinChannel", {"name": "labchan"}]
    h.burst(rank=3)
    assert h.conn.ready
    assert h.conn.rank == 3
    assert ready.called
    replay = [e for e in h.events if e.name == events.MESSAGE]
    assert [e.replayed for e in replay] == [True]
    h.server("chatMsg", {"username": "u", "msg": "new &amp; live", "meta": {}, "time": 2_000})
    live = [e for e in h.events if e.name == events.MESSAGE][-1]
    assert not live.replayed
    assert live.content == "new & live"
    names = h.names()
    assert names[0] == events.CONNECTED
    assert names.index(events.USER_LIST) < names.index(events.READY)
    ready_event = h.events[names.index(events.READY)]
    assert ready_event.platform_data == {"rank": 3, "name": "LabBot", "guest": False}
    assert h.conn.when_ready().called  # already ready: a fired Deferred


def test_when_ready_deferreds_are_fresh_per_caller(h: Harness) -> None:
    a, b = h.conn.when_ready(), h.conn.when_ready()
    assert a is not b
    h.join()
    assert a.called
    assert b.called


def test_guest_login_sends_no_password() -> None:
    h = Harness(password=None, username="visitor")
    h.connect()
    assert h.out() == [["login", {"name": "visitor"}]]
    h.server("rank", 0)
    h.server("login", {"success": True, "name": "visitor", "guest": True})
    h.burst(rank=0)
    assert h.events[-1].platform_data == {"rank": 0, "name": "visitor", "guest": True}


def test_anonymous_joins_at_once_with_rank_minus_one() -> None:
    h = Harness(username=None, password=None)
    h.connect()
    assert h.out() == [["joinChannel", {"name": "labchan"}]]
    h.server("chatMsg", {"username": "u", "msg": "old", "meta": {}, "time": 1_000})
    h.server("userlist", [])
    assert h.conn.ready
    assert h.conn.rank == -1


def test_ready_waits_for_the_rank_when_userlist_comes_first() -> None:
    h = Harness(username=None, password=None)
    h.driver.receive(OPEN)
    h.driver.receive('40{"sid":"nsp"}')
    h.server("userlist", [])
    assert not h.conn.ready
    h.server("rank", -1)
    assert h.conn.ready


def test_channel_password_goes_with_join(h: Harness) -> None:
    h = Harness(channel_password="pw42")
    h.connect()
    h.server("login", {"success": True, "name": "labbot"})
    assert h.out()[-1] == ["joinChannel", {"name": "labchan", "pw": "pw42"}]
    h.server("needPassword", False)  # defensive: answer with channelPassword
    assert h.out()[-1] == ["channelPassword", "pw42"]
    h.server("cancelNeedPassword")
    h.burst()
    assert h.conn.ready


def test_wrong_channel_password_stops_reconnecting(rosey_log: list[str]) -> None:  # noqa: F811
    h = Harness(channel_password="s3cr3t-pw")
    ready = h.conn.when_ready()
    failures: list[Any] = []
    ready.addErrback(failures.append)
    h.connect()
    h.server("login", {"success": True, "name": "labbot"})
    h.server("needPassword", True)
    assert failures[0].check(ChannelPasswordError)
    assert h.sent[-1] == "41"
    assert h.closes == [False]
    assert not h.conn._client.running
    assert [line for line in rosey_log if "channel password wrong: set channel_password" in line]
    error = [e for e in h.events if e.name == events.ERROR][-1]
    assert isinstance(error.platform_data, ChannelPasswordError)
    assert error.extra["fatal"]
    assert not [line for line in rosey_log if "s3cr3t-pw" in line]  # never logged


def test_password_needed_but_none_configured_stops() -> None:
    h = Harness()
    h.connect()
    h.server("login", {"success": True, "name": "labbot"})
    h.server("needPassword", False)
    assert isinstance(h.conn.stopped_for, ChannelPasswordError)
    assert "required" in str(h.conn.stopped_for)


@pytest.mark.parametrize(
    ("text", "cls", "fatal"),
    [
        ("Invalid username/password combination", BadCredentials, True),
        ("User does not exist", BadCredentials, True),
        ('Invalid username "a b"', InvalidUsername, True),
        (
            "Invalid username.  Usernames must be 1-20 characters long and consist only of "
            "characters a-z, A-Z, 0-9, -, or _.",
            InvalidUsername,
            True,
        ),
        ("That username is reserved.", NameTaken, True),
        ("That username is registered.", NameTaken, True),
        ("That name is already in use on this channel.", NameInUse, False),
        (
            "Guest logins are restricted to one per IP address per 60 seconds.",
            GuestLoginLimited,
            False,
        ),
        ("Session expired", LoginError, False),
    ],
)
def test_login_errors_map_to_typed_errors_with_the_message_kept(
    text: str, cls: type[LoginError], fatal: bool
) -> None:
    error = login_error(text)
    assert type(error) is cls
    assert error.server_message == text
    assert is_fatal(error) is fatal


def test_guest_limit_seconds_are_parsed() -> None:
    error = login_error("Guest logins are restricted to one per IP address per 45 seconds.")
    assert isinstance(error, GuestLoginLimited)
    assert error.retry_after == 45
    odd = login_error("Guest logins are restricted somehow")
    assert isinstance(odd, GuestLoginLimited)
    assert odd.retry_after == 60
    assert login_error(None).server_message == "login refused with no reason given"


def test_bad_credentials_stop_reconnecting_with_a_clear_line(
    rosey_log: list[str],  # noqa: F811
) -> None:
    h = Harness()
    h.connect()
    h.server("login", {"success": False, "error": "Invalid username/password combination"})
    assert isinstance(h.conn.stopped_for, BadCredentials)
    assert not h.conn._client.running
    line = next(line for line in rosey_log if "not reconnecting" in line)
    assert "login as 'labbot' refused" in line
    assert "check username and password" in line
    assert "secret" not in "".join(rosey_log)
    failed = h.conn.when_ready()
    failed.addErrback(lambda f: f.trap(BadCredentials))
    assert failed.called


def test_name_in_use_leaves_and_reconnects_with_backoff() -> None:
    h = Harness(username="guest1", password=None)
    h.connect()
    h.server("login", {"success": False, "error": "That name is already in use on this channel."})
    assert h.conn.stopped_for is None
    assert h.conn._client.running
    assert h.closes == [False]
    error = [e for e in h.events if e.name == events.ERROR][-1]
    assert isinstance(error.platform_data, NameInUse)
    assert not error.extra["fatal"]


def test_guest_login_limit_waits_the_named_seconds_then_gives_up_after_the_limit() -> None:
    h = Harness(username="guest1", password=None, guest_retry_limit=2)
    h.connect()
    limited = {"success": False, "error": "Guest logins are restricted to one per IP "
               "address per 30 seconds."}  # fmt: skip
    for _ in range(2):
        h.server("login", limited)
        logins = len([e for e in h.out() if e[0] == "login"])
        h.clock.advance(29.9)
        assert len([e for e in h.out() if e[0] == "login"]) == logins
        h.clock.advance(0.1)
        assert h.out()[-1] == ["login", {"name": "guest1"}]
    h.server("login", limited)
    assert isinstance(h.conn.stopped_for, GuestLoginLimited)


def test_join_timeout_counts_from_the_last_answer_and_the_wait_the_server_asked_for() -> None:
    h = Harness(username="guest1", password=None, join_timeout=10)
    h.connect()
    h.idle(9)  # silent for 9 s after the namespace opened: still waiting
    h.server("login", {"success": False, "error": "Guest logins are restricted to one per "
                       "IP address per 30 seconds."})  # fmt: skip
    h.idle(39.9)  # the 30 s the server asked for, then 9.9 s of silence
    assert h.closes == []
    assert events.ERROR not in h.names()
    h.idle(0.2)
    (error,) = [e for e in h.events if e.name == events.ERROR]
    assert isinstance(error.platform_data, JoinTimeout)
    # left politely: the socket is alive
    assert h.closes == [False]
    assert h.sent[-1] == "41"
    assert h.conn.stopped_for is None  # and reconnects


def test_a_joined_bot_has_no_join_timeout(h: Harness) -> None:
    h.join()
    h.idle(3600)
    assert h.conn.ready
    assert events.ERROR not in h.names()


def test_guest_retry_is_not_sent_on_a_dead_session() -> None:
    h = Harness(username="guest1", password=None)
    h.connect()
    h.server("login", {"success": False, "error": "Guest logins are restricted to one per "
                       "IP address per 60 seconds."})  # fmt: skip
    sent = len(h.sent)
    h.driver.lost("websocket closed (code 1006)")
    h.clock.advance(61)
    assert len(h.sent) == sent


def test_duplicate_login_kick_stops_reconnecting(rosey_log: list[str]) -> None:  # noqa: F811
    h = Harness()
    h.join()
    h.server("kick", {"reason": "Duplicate login"})
    names = h.names()
    assert events.KICKED in names
    assert h.events[names.index(events.KICKED)].platform_data == {"reason": "Duplicate login"}
    # rosey closes; CyTube would not
    assert h.sent[-1] == "41"
    assert h.closes == [False]
    assert isinstance(h.conn.stopped_for, Kicked)
    assert not h.conn._client.running
    line = next(line for line in rosey_log if "not reconnecting" in line)
    assert "another client logged in as 'labbot'" in line
    h.driver.lost("websocket closed (code 1000)")
    assert h.names()[-1] == events.DISCONNECTED


@pytest.mark.parametrize(
    "reason", ["You're banned!", "You are banned from this channel.", "Invalid channel name"]
)
def test_ban_and_invalid_channel_kicks_stop(reason: str, rosey_log: list[str]) -> None:  # noqa: F811
    h = Harness()
    h.join()
    h.server("kick", {"reason": reason})
    assert isinstance(h.conn.stopped_for, Kicked)
    assert h.conn.stopped_for.reason == reason
    assert any("not reconnecting" in line and reason in line for line in rosey_log)


def test_other_kicks_rejoin_after_the_configured_delay() -> None:
    h = Harness(kicks=KickPolicy(rejoin_delay=42))
    h.join()
    h.idle(3600)  # a healthy session: no penalty
    h.server("kick", {"reason": "Channel reloading"})
    h.driver.lost("websocket closed (code 1000)")
    assert h.conn.stopped_for is None
    assert h.conn._client.running
    assert h.conn.reconnector(1) == 42
    assert h.conn.reconnector(1) == 5  # the hold was for one retry
    assert events.KICKED in h.names()
    assert h.names()[-1] == events.DISCONNECTED


def test_a_kick_right_after_joining_raises_the_penalty() -> None:
    h = Harness(kicks=KickPolicy(rejoin_delay=0))
    for expected in (10, 20, 40):
        h.join()
        h.server("kick", {"reason": "Channel reloading"})
        h.driver.lost("websocket closed (code 1000)")
        assert h.conn.reconnector(1) == expected
        h.clock.advance(expected)
        h.new_session()


def test_rate_limit_refusal_waits_at_least_10_s(rosey_log: list[str]) -> None:  # noqa: F811
    h = Harness(reconnect=ReconnectPolicy(initial_delay=1, max_delay=1, jitter=0))
    h.driver.receive(OPEN)
    h.driver.receive('44{"message":"Rate limit exceeded"}')
    assert h.closes == [False]
    h.driver.lost("websocket closed (code 1000)")
    assert h.conn.reconnector(1) >= 10
    error = [e for e in h.events if e.name == events.ERROR][-1]
    assert isinstance(error.platform_data, ConnectRefused)
    assert error.platform_data.message == "Rate limit exceeded"
    assert events.DISCONNECTED not in h.names()  # never connected, so never disconnected


def test_server_ban_refusal_stops() -> None:
    h = Harness()
    h.driver.receive(OPEN)
    h.driver.receive('44{"message":"You are banned from the server"}')
    h.driver.lost("websocket closed (code 1000)")
    assert isinstance(h.conn.stopped_for, ConnectRefused)


def test_emit_fire_and_forget_and_chat_helpers(h: Harness) -> None:
    with pytest.raises(NotConnected):
        h.conn.emit("chatMsg", {"msg": "x"})
    with pytest.raises(NotConnected):
        h.conn.send_message("x")
    h.join()
    h.conn.send_message("hello <b>")
    h.conn.send_message("/me waves", {"modflair": 3})
    h.conn.send_pm("labuser", "psst")
    h.conn.emit("playNext")
    assert h.out()[-4:] == [
        ["chatMsg", {"msg": "hello <b>", "meta": {}}],
        ["chatMsg", {"msg": "/me waves", "meta": {"modflair": 3}}],
        ["pm", {"to": "labuser", "msg": "psst", "meta": {}}],
        ["playNext"],
    ]


def test_emit_with_ack_fires_times_out_and_fails_on_close() -> None:
    h = Harness(ack_timeout=5)
    h.join()
    d = h.conn.emit_with_ack("newPoll", {"title": "t", "opts": ["a"], "obscured": False})
    assert h.sent[-1].startswith('420["newPoll"')
    h.driver.receive("430[{}]")
    assert d.result == {}
    late: list[Any] = []
    h.conn.emit_with_ack("newPoll", {}).addErrback(late.append)
    h.clock.advance(5)
    assert late[0].check(AckTimeout)
    lost: list[Any] = []
    h.conn.emit_with_ack("newPoll", {}, timeout=60).addErrback(lost.append)
    h.driver.lost("websocket closed (code 1006)")
    assert lost[0].check(ConnectionClosed)
    with pytest.raises(NotConnected):
        h.conn.emit_with_ack("newPoll", {})


def test_listener_exceptions_are_logged_and_delivery_goes_on(
    rosey_log: list[str],  # noqa: F811
) -> None:
    h = Harness()
    seen: list[str] = []

    def broken(event: Event) -> None:
        raise ValueError("listener bug")

    def failing_async(event: Event) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        d.errback(RuntimeError("async listener bug"))
        return d

    h.conn.unsubscribe(h.events.append)
    h.conn.subscribe(broken)
    h.conn.subscribe(failing_async)
    h.conn.subscribe(lambda e: seen.append(e.name))
    h.join()
    assert events.READY in seen
    assert any("listener bug" in line for line in rosey_log)
    assert any("async listener bug" in line for line in rosey_log)
    h.conn.unsubscribe(broken)
    h.conn.unsubscribe(broken)  # unknown listeners are ignored


def test_listeners_changed_during_an_event_take_effect_from_the_next_event() -> None:
    h = Harness()  # h.events.append was subscribed first: it sees every event
    first: list[str] = []
    late: list[str] = []

    def late_listener(event: Event) -> None:
        late.append(event.name)

    def once(event: Event) -> None:
        first.append(event.name)
        h.conn.unsubscribe(once)
        h.conn.subscribe(late_listener)

    h.conn.subscribe(once)
    h.join()
    seen = [e.name for e in h.events]
    assert len(seen) > 2
    assert first == seen[:1]  # ``once`` ran for the first event only
    assert late == seen[1:]  # what it subscribed starts with the next event


def test_malformed_and_unknown_events_are_logged_once_per_name_and_delivered(
    h: Harness,
    rosey_log: list[str],  # noqa: F811
) -> None:
    h.join()
    rosey_log.clear()
    for _ in range(3):
        h.server("chatMsg", {"username": 5, "msg": "x"})
        h.server("brandNewEvent", {"n": 1})
    assert len([line for line in rosey_log if "malformed 'chatMsg'" in line]) == 1
    assert len([line for line in rosey_log if "unknown event 'brandNewEvent'" in line]) == 1
    assert h.names().count("brandNewEvent") == 3
    assert h.names().count("chatMsg") == 3  # malformed chat passes through under its own name


def test_a_server_inventing_event_names_cannot_grow_the_log_or_memory_without_bound(
    h: Harness,
    rosey_log: list[str],  # noqa: F811
) -> None:
    h.join()
    rosey_log.clear()
    for i in range(300):
        h.server(f"invented{i}", None)
    unknown = [line for line in rosey_log if "unknown event 'invented" in line]
    assert len(unknown) == 256
    assert len([line for line in rosey_log if "no more are" in line]) == 1
    assert sum(name.startswith("invented") for name in h.names()) == 300  # all delivered


def test_disconnect_closes_politely_and_reports(h: Harness) -> None:
    h.join()
    h.conn.disconnect("operator asked")
    assert h.sent[-1] == "41"
    assert h.closes == [False]
    h.driver.lost("websocket closed (code 1000)")
    assert h.events[-1] == Event(events.DISCONNECTED, {"reason": "operator asked"})
    assert not h.conn.connected
    assert not h.conn.ready
    h.conn.disconnect()  # no session: nothing to do


def test_events_from_a_stale_session_are_ignored(h: Harness) -> None:
    old = h.driver
    h.join()
    h.new_session()
    count = len(h.events)
    old.receive(codec.encode_event("chatMsg", {"username": "u", "msg": "x", "time": 1}))
    assert len(h.events) == count


def test_error_messages_while_joining_are_logged(rosey_log: list[str]) -> None:  # noqa: F811
    h = Harness(username=None, password=None)
    h.connect()
    h.server("errorMsg", {"msg": "This channel has blocked anonymous users."})
    assert any("server error while joining #labchan" in line for line in rosey_log)


def _missing_channel(clock: MemoryReactorClock) -> CyTubeConnection:
    """A connection to a channel whose site's socketconfig answers 404 (no such channel)."""

    def answer(method: bytes, url: str, params: Any, headers: Any, data: Any) -> Any:
        return 404, {}, b'{"error":"Channel \\"bad name\\" does not exist."}'

    return CyTubeConnection(
        "https://site.example",
        "bad name",
        reactor=clock,
        http=cast(Any, StubTreq(StringStubbingResource(answer))),
    )


def test_no_such_channel_from_the_socketconfig_stops(rosey_log: list[str]) -> None:  # noqa: F811
    clock = MemoryReactorClock()
    conn = _missing_channel(clock)
    seen: list[Event] = []
    conn.subscribe(seen.append)
    conn.startService()
    clock.advance(0)
    assert isinstance(conn.stopped_for, NoSuchChannel)
    assert not conn._client.running
    assert seen[-1].name == events.ERROR
    assert seen[-1].extra["fatal"]
    assert any('Channel "bad name" does not exist.' in line and "check the channel name" in line
               for line in rosey_log)  # fmt: skip
    clock.advance(3600)
    assert clock.getDelayedCalls() == []  # nothing left scheduled: no retry
    conn.stopService()


def test_socketconfig_is_fetched_again_on_every_connect() -> None:
    clock = MemoryReactorClock()
    hits: list[str] = []

    def answer(method: bytes, url: str, params: Any, headers: Any, data: Any) -> Any:
        hits.append(url)
        return 200, {}, b'{"servers":[{"url":"http://127.0.0.1:9","secure":false}]}'

    conn = CyTubeConnection(
        "http://site.example",
        "labchan",
        reactor=clock,
        http=cast(Any, StubTreq(StringStubbingResource(answer))),
        reconnect=NO_JITTER,
    )
    conn.startService()
    clock.advance(0)
    assert len(hits) == 1
    assert [c[0] for c in clock.tcpClients] == ["127.0.0.1"]
    assert conn._factory.url == "ws://127.0.0.1:9/socket.io/?EIO=4&transport=websocket"
    # the TCP connect fails; ClientService retries after the backoff, fetching the config again
    clock.tcpClients[0][2].clientConnectionFailed(cast(Any, None), _refused())
    clock.advance(0.3)  # HostnameEndpoint notices that its only attempt failed
    assert len(hits) == 1
    clock.advance(5)
    assert len(hits) == 2
    assert len(clock.tcpClients) == 2
    conn.stopService()


def _refused() -> Any:
    from twisted.internet.error import ConnectionRefusedError
    from twisted.python.failure import Failure

    return Failure(ConnectionRefusedError())


def test_ws_endpoint_is_a_plain_hostname_endpoint() -> None:
    from twisted.internet.endpoints import HostnameEndpoint

    endpoint = websocket_endpoint(MemoryReactorClock(), "ws://example.test:8080/socket.io/")
    assert isinstance(endpoint, HostnameEndpoint)


# -- wss: the certificate and the host name are verified (a real TLS server on 127.0.0.1) ----


def _self_signed(ip: str) -> tuple[bytes, bytes]:
    """A key and a self-signed certificate valid for the IP address ``ip`` only (PEM)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rosey test")])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


@pytest_twisted.ensureDeferred
async def test_wss_verifies_the_certificate_and_the_host_name() -> None:
    from twisted.internet import reactor as _reactor
    from twisted.internet.ssl import Certificate, PrivateCertificate

    from rosey.wire.protocol import CyTubeClientFactory
    from tests.waiting import eventually
    from tests.wire.test_bad_input_live import RawCyTube
    from tests.wire.test_protocol import Recorder

    reactor: Any = _reactor
    key_pem, cert_pem = _self_signed("127.0.0.1")
    server = RawCyTube()
    options = PrivateCertificate.loadPEM(key_pem + cert_pem).options()
    port = reactor.listenSSL(0, server, options, interface="127.0.0.1")
    number = port.getHost().port
    trusted = Certificate.loadPEM(cert_pem)

    async def attempt(host: str, trust_root: Any) -> Recorder:
        recorder = Recorder()
        url = f"wss://{host}:{number}/socket.io/?EIO=4&transport=websocket"
        factory = CyTubeClientFactory(recorder, clock=reactor, reactor=reactor)
        factory.set_url(url)
        endpoint = websocket_endpoint(reactor, url, trust_root=trust_root)
        proto = await endpoint.connect(factory)
        await eventually(lambda: "connected" in recorder.names() or "closed" in recorder.names())
        if "connected" in recorder.names():
            proto.driver.close("test over")
            await eventually(lambda: "closed" in recorder.names())
        return recorder

    try:
        system_roots = await attempt("127.0.0.1", None)  # a self-signed cert is not trusted
        assert "opened" not in system_roots.names()
        wrong_name = await attempt("localhost", trusted)  # trusted cert, but not for this name
        assert "opened" not in wrong_name.names()
        assert not server.conns
        good = await attempt("127.0.0.1", trusted)
        assert good.names()[:2] == ["opened", "connected"]
        assert len(server.conns) == 1
    finally:
        await port.stopListening()


@pytest.fixture
def all_log() -> Iterator[list[str]]:
    """Every log line of any namespace (Twisted's too) written during the test."""
    from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher

    lines: list[str] = []

    def observe(event: LogEvent) -> None:
        lines.append(formatEvent(event))

    observer = cast(ILogObserver, observe)
    globalLogPublisher.addObserver(observer)
    yield lines
    globalLogPublisher.removeObserver(observer)


def test_no_retry_is_announced_when_the_channel_is_about_to_stop(all_log: list[str]) -> None:
    """A 404 socketconfig: "not reconnecting", and no "Scheduling retry" line before it."""
    clock = MemoryReactorClock()
    conn = _missing_channel(clock)
    conn.startService()
    clock.advance(0)
    assert conn.stopped_for is not None
    assert any("not reconnecting" in line for line in all_log), all_log
    assert not any("retry" in line.lower() or "reconnecting to" in line for line in all_log)
    conn.stopService()


def _refusing_site(clock: MemoryReactorClock, hits: list[str]) -> CyTubeConnection:
    def answer(method: bytes, url: str, params: Any, headers: Any, data: Any) -> Any:
        hits.append(url)
        return 200, {}, b'{"servers":[{"url":"http://127.0.0.1:9","secure":false}]}'

    return CyTubeConnection(
        "http://site.example",
        "labchan",
        reactor=clock,
        http=cast(Any, StubTreq(StringStubbingResource(answer))),
        reconnect=NO_JITTER,
    )


def test_a_refused_connect_is_retried_after_1_s_with_one_rounded_line(
    all_log: list[str],
) -> None:
    clock = MemoryReactorClock()
    hits: list[str] = []
    conn = _refusing_site(clock, hits)
    conn.startService()
    clock.advance(0)
    clock.tcpClients[0][2].clientConnectionFailed(cast(Any, None), _refused())
    clock.advance(0.3)  # HostnameEndpoint notices that its only attempt failed
    retries = [line for line in all_log if "reconnecting to" in line]
    assert retries == ["reconnecting to site.example/labchan in 1.0 s (connection refused)"]
    assert not any("cannot connect" in line for line in all_log)  # one line per attempt
    assert not any("Scheduling retry" in line for line in all_log)
    assert conn.reconnector.budget.tokens == 5  # the server never saw it
    clock.advance(1)
    assert len(hits) == 2  # not 5 s later: nothing was listening, the server counted nothing
    clock.tcpClients[1][2].clientConnectionFailed(cast(Any, None), _refused())
    clock.advance(0.3)
    assert all_log.count("reconnecting to site.example/labchan in 2.0 s (connection refused)")
    conn.stopService()


def test_a_refused_socketconfig_fetch_counts_as_a_refusal(
    rosey_log: list[str],  # noqa: F811
) -> None:
    from twisted.internet.error import ConnectionRefusedError

    clock = MemoryReactorClock()
    fetches: list[Deferred[Any]] = []

    class _Refused:
        def get(self, url: str, **kwargs: Any) -> Deferred[Any]:
            fetches.append(Deferred())
            return fetches[-1]

    conn = CyTubeConnection(
        "http://site.example", "labchan", reactor=clock, http=_Refused(), reconnect=NO_JITTER
    )
    conn.startService()
    clock.advance(0)
    fetches[0].errback(ConnectionRefusedError())
    clock.advance(1)
    assert len(fetches) == 2
    fetches[1].errback(ValueError("a reset, say"))  # not a refusal: the backoff starts at 5 s
    assert rosey_log[-1] == (
        "reconnecting to site.example/labchan in 5.0 s (cannot connect: "
        "cannot fetch http://site.example/socketconfig/labchan.json: ValueError: a reset, say)"
    )
    clock.advance(4.9)
    assert len(fetches) == 2
    clock.advance(0.1)
    assert len(fetches) == 3
    conn.stopService()
