"""Actions: the shared test lab, and what holds for every action (not ready, refused, timeouts).

:class:`Lab` replays a recorded fixture through the real ``Session`` and ``Normalizer`` into a
``FakeConnection``, whose listener does what ``Bot.handle_event`` does (mirror first, then the
confirmations). A test stops at one of the scenario's ``note`` records, runs an action, compares
what it sent with the recorded ``out`` frame, and replays the server's answer. Events the fixtures
do not have are written by hand in the exact shape CyTube 3.86 sends (src/channel/*.js).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from twisted.internet import task
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from rosey import events
from rosey.bot.actions import Actions
from rosey.bot.confirm import Confirmations
from rosey.bot.mirror import ChannelMirror
from rosey.errors import (
    AckTimeout,
    ChannelError,
    ChannelPermissionError,
    ConnectionClosed,
    NotConnected,
)
from rosey.events import Event
from rosey.wire import codec
from rosey.wire.fake import FakeConnection
from tests.recorded import EventReplay, Record, load

# -- the lab ------------------------------------------------------------------------------------


class Lab:
    """A recorded scenario replayed into an :class:`Actions` under test."""

    def __init__(
        self,
        scenario: str,
        *,
        me: str | None = None,
        queue_add: bool = False,
    ) -> None:
        self.recording = load(scenario)
        self.records = self.recording.records
        self.pos = 0
        self.clock = task.Clock()
        self.conn = FakeConnection(channel="labchan", username=me or self.recording.header["actor"])
        self.mirror = ChannelMirror()
        self.confirmations = Confirmations(self.clock)
        self.said: list[tuple[str, dict[str, Any] | None]] = []
        self.pms: list[tuple[str, str]] = []
        self.queued: list[dict[str, Any]] = []
        #: What the fake send queue answers: a fired Deferred unless a test sets its own.
        self.answer: Callable[[], Deferred[None]] = lambda: succeed(None)
        self.actions = Actions(
            self.conn,
            self.mirror,
            self.confirmations,
            self._say,
            self._pm,
            self.clock,
            queue_add=self._queue_add if queue_add else None,
        )
        self.conn.subscribe(self.handle)
        self.conn.make_ready()
        self._replay = EventReplay(self.recording, self.conn.feed)

    # the bot's side

    def handle(self, event: Event) -> None:
        """What ``Bot.handle_event`` does with each event, minus the queue and the handlers."""
        self.mirror.apply(event)
        self.confirmations.feed(event)

    def _say(self, text: str, meta: dict[str, Any] | None) -> Deferred[None]:
        self.said.append((text, meta))
        return self.answer()

    def _pm(self, to: str, text: str) -> Deferred[None]:
        self.pms.append((to, text))
        return self.answer()

    def _queue_add(self, payload: dict[str, Any]) -> Deferred[None]:
        self.queued.append(payload)
        return self.answer()

    @property
    def sent(self) -> list[tuple[str, Any]]:
        """Every event the actions emitted on the connection."""
        return self.conn.sent

    def quiet(self) -> bool:
        """Nothing was sent by any route."""
        return not (self.sent or self.said or self.pms or self.queued or self.conn.acks)

    # the server's side

    def to_note(self, text: str) -> Lab:
        """Replay every record up to the next ``note`` starting with ``text``."""
        while self.pos < len(self.records):
            record = self.records[self.pos]
            self.pos += 1
            if record.meta.get("event") == "note" and record.meta["text"].startswith(text):
                return self
            self._feed(record)
        raise AssertionError(f"no note {text!r} left")

    def recorded_out(self) -> tuple[str, Any]:
        """The next event frame the recorded client sent, as ``(name, data)``."""
        while self.pos < len(self.records):
            record = self.records[self.pos]
            self.pos += 1
            if record.dir == "out" and record.frame is not None:
                packet = codec.decode(record.frame)
                if isinstance(packet, codec.EventPacket):
                    return packet.name, packet.data
            self._feed(record)
        raise AssertionError("no out frame left")

    def replay(self) -> None:
        """Replay the server's frames up to the next note (the answer to what was sent)."""
        while self.pos < len(self.records):
            record = self.records[self.pos]
            if record.meta.get("event") == "note":
                return
            self.pos += 1
            self._feed(record)

    def server(self, name: str, data: Any = None) -> None:
        """One server event written by hand, normalized like the real ones."""
        self._replay.server(name, data)

    def _feed(self, record: Record) -> None:
        self._replay.feed(record)


def outcome(d: Deferred[Any]) -> Any:
    """What ``d`` already fired with (a Failure when it failed)."""
    seen: list[Any] = []
    d.addBoth(seen.append)
    assert seen, "the action has not settled"
    return seen[0]


def settled(d: Deferred[Any]) -> bool:
    """Whether ``d`` has a result yet (also when it waits on a chained Deferred)."""
    seen: list[Any] = []

    def look(result: Any) -> Any:
        seen.append(result)
        return result

    d.addBoth(look)
    return bool(seen)


def ok(d: Deferred[Any]) -> Any:
    """The result of an action that succeeded."""
    result = outcome(d)
    if isinstance(result, Failure):
        result.raiseException()
    return result


def failed(d: Deferred[Any], kind: type[BaseException]) -> Any:
    """The exception of an action that failed with ``kind``."""
    result = outcome(d)
    assert isinstance(result, Failure), f"expected {kind.__name__}, got the result {result!r}"
    assert result.check(kind), f"expected {kind.__name__}, got {result.value!r}"
    return result.value


# -- every action ---------------------------------------------------------------------------------

Call = Callable[[Actions], Deferred[Any]]

CM = "http://127.0.0.1:8090/test1.json"

#: One call of every action, valid in playlist_ops at the note "delete uid 2".
EVERY_ACTION: dict[str, Call] = {
    "chat": lambda a: a.chat("hello"),
    "me": lambda a: a.me("waves"),
    "pm": lambda a: a.pm("labuser", "hi"),
    "afk": lambda a: a.afk(),
    "clear_chat": lambda a: a.clear_chat(),
    "kick": lambda a: a.kick("labuser"),
    "ban": lambda a: a.ban("labuser"),
    "unban": lambda a: a.unban("troll"),
    "mute": lambda a: a.mute("labuser"),
    "smute": lambda a: a.smute("labuser"),
    "unmute": lambda a: a.unmute("labuser"),
    "queue": lambda a: a.queue("cm:http://127.0.0.1:8090/new.json"),
    "delete": lambda a: a.delete(2),
    "move": lambda a: a.move(2, "prepend"),
    "jump": lambda a: a.jump(2),
    "play_next": lambda a: a.play_next(),
    "shuffle": lambda a: a.shuffle(),
    "clear_playlist": lambda a: a.clear_playlist(),
    "set_temp": lambda a: a.set_temp(2, False),
    "toggle_playlist_lock": lambda a: a.toggle_playlist_lock(),
    "set_playlist_locked": lambda a: a.set_playlist_locked(False),
    "assign_leader": lambda a: a.assign_leader("labuser"),
    "remove_leader": lambda a: a.remove_leader(),
    "pause": lambda a: a.pause(),
    "play": lambda a: a.play(),
    "seek": lambda a: a.seek(1),
    "voteskip": lambda a: a.voteskip(),
    "new_poll": lambda a: a.new_poll("Movie?", ["yes", "no"]),
    "vote": lambda a: a.vote(0),
    "close_poll": lambda a: a.close_poll(),
    "set_motd": lambda a: a.set_motd("hi"),
    "set_css": lambda a: a.set_css("a {}"),
    "set_js": lambda a: a.set_js("x()"),
    "set_options": lambda a: a.set_options(afk_timeout=300),
    "set_permissions": lambda a: a.set_permissions({"chat": 1}),
    "update_emote": lambda a: a.update_emote(":cat:", "https://e.invalid/cat.png"),
    "rename_emote": lambda a: a.rename_emote(":cat:", ":kitty:"),
    "remove_emote": lambda a: a.remove_emote(":cat:"),
    "request_chat_filters": lambda a: a.request_chat_filters(),
    "add_filter": lambda a: a.add_filter("x", "x", "y"),
    "update_filter": lambda a: a.update_filter("bold", active=False),
    "remove_filter": lambda a: a.remove_filter("bold"),
}

#: Actions that anonymous viewers and guests may take on a registered channel.
GUEST_MAY = {"chat", "me", "pm", "afk", "vote", "voteskip"}
#: Actions refused to a guest for a reason other than rank (the bot is not the leader).
NOT_RANK = {"pause", "play", "seek"}


@pytest.mark.parametrize("name", sorted(EVERY_ACTION))
def test_every_action_fails_fast_when_not_ready(name: str) -> None:
    lab = Lab("playlist_ops").to_note("delete uid 2")
    lab.conn.lose("gone")
    error = failed(EVERY_ACTION[name](lab.actions), NotConnected)
    assert "not connected" in str(error)
    assert lab.quiet()
    assert lab.confirmations.pending == 0


@pytest.mark.parametrize("name", sorted(set(EVERY_ACTION) - GUEST_MAY - NOT_RANK))
def test_a_guest_is_refused_locally_with_nothing_sent(name: str) -> None:
    lab = Lab("guest_join").to_note("idle until")
    assert lab.mirror.name == "lurker9783"
    assert lab.mirror.rank == 0
    error = failed(EVERY_ACTION[name](lab.actions), ChannelPermissionError)
    assert "refused" in str(error)
    assert "0 (guest)" in str(error)
    assert lab.quiet()
    assert lab.confirmations.pending == 0


def test_anonymous_bot_is_refused_what_needs_a_login() -> None:
    lab = Lab("guest_join").to_note("guest login")
    assert not lab.mirror.logged_in
    error = failed(lab.actions.afk(), ChannelPermissionError)
    assert "not logged in" in str(error)
    assert lab.quiet()


def test_emitted_action_times_out_after_its_timeout() -> None:
    lab = Lab("playlist_ops").to_note("delete uid 2")
    d = lab.actions.delete(2)
    lab.clock.advance(9.9)
    assert not d.called
    lab.clock.advance(0.2)
    assert "delete of uid 2" in str(failed(d, AckTimeout))
    assert lab.confirmations.pending == 0


def test_command_timeout_starts_when_the_send_queue_sent_it() -> None:
    lab = Lab("users_coming_and_going").to_note("labuser: /afk")
    sending: Deferred[None] = Deferred()
    lab.answer = lambda: sending
    d = lab.actions.kick("labuser")
    lab.clock.advance(60)  # held in the send queue: no confirmation is due yet
    assert not d.called
    sending.callback(None)
    lab.clock.advance(9.9)
    assert not d.called
    lab.clock.advance(0.2)
    assert "kick of labuser" in str(failed(d, AckTimeout))


def test_send_queue_refusal_fails_the_command() -> None:
    lab = Lab("users_coming_and_going").to_note("labuser: /afk")
    lab.answer = lambda: Deferred.fromCoroutine(_raise(ChannelError("/kick refused")))
    d = lab.actions.kick("labuser")
    assert not d.called  # one reactor turn later: the action's own refusal would win
    lab.clock.advance(0)
    assert str(failed(d, ChannelError)) == "/kick refused"
    assert lab.confirmations.pending == 0


def test_own_refusal_wins_over_the_send_queue_refusal() -> None:
    lab = Lab("users_coming_and_going").to_note("labuser: /afk")
    sending: Deferred[None] = Deferred()
    lab.answer = lambda: sending
    d = lab.actions.mute("labuser")
    # Bot.handle_event runs the send queue (which fails the line) before the confirmations.
    sending.errback(ChannelError("/mute target labuser not present in channel."))
    lab.server("errorMsg", {"msg": "/mute target labuser not present in channel."})
    lab.clock.advance(0)
    error = failed(d, ChannelError)
    assert type(error).__name__ == "ActionFailed"


@pytest.mark.parametrize(
    "lost",
    [
        lambda lab: lab.conn.lose("connection lost"),
        lambda lab: lab.conn.feed(Event(events.KICKED, {"reason": "Duplicate login"})),
    ],
    ids=["disconnected", "kicked"],
)
def test_session_end_fails_pending_actions(lost: Callable[[Lab], None]) -> None:
    lab = Lab("playlist_ops").to_note("delete uid 2")
    waiting: list[Deferred[Any]] = [
        lab.actions.delete(2),
        lab.actions.kick("labuser"),
        lab.actions.queue(CM),
    ]
    lost(lab)
    for d in waiting:
        failed(d, ConnectionClosed)
    assert lab.confirmations.pending == 0
    assert lab.clock.getDelayedCalls() == []


def test_emit_raising_fails_the_action_and_forgets_it() -> None:
    lab = Lab("playlist_ops").to_note("delete uid 2")

    def broken(event: str, data: Any = None) -> None:
        raise NotConnected(f"not connected; dropped {event}")

    lab.conn.emit = broken  # type: ignore[method-assign]
    failed(lab.actions.delete(2), NotConnected)
    assert lab.confirmations.pending == 0
    assert lab.clock.getDelayedCalls() == []


async def _raise(error: Exception) -> None:
    raise error
