"""Logging in and joining a channel on one socket.io session (sans-IO).

:class:`JoinFlow` sees the server's events and returns *steps* for the connection to carry out;
it never sends, logs or reads a clock itself. The order is CyTube's: login first (registered
``{name, pw}``, guest ``{name}``, or none for anonymous) and wait for the ``login`` answer, then
``joinChannel {name[, pw]}``. The session is ready once the join burst has ended (``userlist``)
and the bot's own rank is known; with login before join the server sends ``rank`` first in the
burst, so the rank seen by ``userlist`` is the final one.

Every transition is in :data:`TRANSITIONS`: ``(phase, input) -> (new phase, outputs)``.
:meth:`JoinFlow.classify` turns a server event into an :class:`Input` (the guards, such as "is
the own rank known yet", are decided there); a pair that is not in the table is ignored: the
event changes nothing and produces no step (a ``login`` answer while joining, anything once
the flow is done).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from rosey.errors import (
    ChannelPasswordError,
    CytubeError,
    GuestLoginLimited,
    Kicked,
    LoginError,
    NoSuchChannel,
)
from rosey.wire.login import is_fatal, login_error
from rosey.wire.retry import KickPolicy

__all__ = [
    "TRANSITIONS",
    "BeginJoin",
    "Fail",
    "Input",
    "JoinFlow",
    "Note",
    "Output",
    "Phase",
    "Ready",
    "Send",
    "SendLater",
    "Step",
]


@dataclass(frozen=True, slots=True)
class Send:
    """Emit this event now."""

    event: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class SendLater:
    """Emit this event after ``delay`` seconds, if the session is still up."""

    delay: float
    event: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class BeginJoin:
    """``joinChannel`` is being sent: the join burst (with replayed chat) follows."""


@dataclass(frozen=True, slots=True)
class Ready:
    """Joined: the burst is over and the own rank is known."""

    rank: float
    name: str | None
    guest: bool


@dataclass(frozen=True, slots=True)
class Note:
    """Something the operator should read (logged as a warning)."""

    text: str


@dataclass(frozen=True, slots=True)
class Fail:
    """Leave this session. ``fatal`` stops reconnecting; otherwise wait at least ``hold`` s."""

    error: CytubeError
    fatal: bool
    hold: float = 0.0


Step = Send | SendLater | BeginJoin | Ready | Note | Fail


class Phase(enum.StrEnum):
    """Where the conversation is."""

    IDLE = "idle"  # created, start() not called yet
    LOGIN = "login"  # login sent, waiting for its answer
    JOINING = "joining"  # joinChannel sent, burst not over
    BURST_DONE = "burst done"  # userlist seen, own rank not yet
    READY = "ready"
    DONE = "done"  # failed; nothing more to do


class Input(enum.Enum):
    """What happened, as the flow tells it apart (:meth:`JoinFlow.classify`)."""

    START_LOGIN = "start() with a username"
    START_ANONYMOUS = "start() without a username"
    RANK = "rank <number>"
    LOGIN_OK = "login {success: true}"
    LOGIN_LIMITED = "login refused for the guest limit, retries left"
    LOGIN_REFUSED = "login refused otherwise (or the guest retries used up)"
    PASSWORD_ASKED = "needPassword, and a channel password is set"
    PASSWORD_REFUSED = "needPassword true (wrong), or no channel password set"
    BURST_END_RANKED = "userlist, the own rank known"
    BURST_END = "userlist, the own rank not yet known"
    KICK = "kick"
    SERVER_ERROR = "errorMsg"


class Output(enum.Enum):
    """What a transition does (:meth:`JoinFlow._output`); most add steps."""

    SEND_LOGIN = "send login"
    RETRY_LOGIN = "note the guest limit, send login again after its delay"
    ACCEPT_LOGIN = "keep the name and guest flag of the login answer"
    JOIN = "begin the join burst, send joinChannel"
    SEND_PASSWORD = "send channelPassword"
    KEEP_RANK = "keep the rank"
    READY = "report ready"
    NOTE = "warn the operator"
    FAIL = "leave the session: stop (fatal) or rejoin after a hold, by the error"


_P, _I, _O = Phase, Input, Output

#: Every transition of the join flow. A (phase, input) pair that is not here is ignored.
TRANSITIONS: dict[tuple[Phase, Input], tuple[Phase, tuple[Output, ...]]] = {
    # (phase, input)                          (new phase, outputs)
    (_P.IDLE, _I.START_LOGIN): (_P.LOGIN, (_O.SEND_LOGIN,)),
    (_P.IDLE, _I.START_ANONYMOUS): (_P.JOINING, (_O.JOIN,)),
    (_P.IDLE, _I.RANK): (_P.IDLE, (_O.KEEP_RANK,)),
    (_P.IDLE, _I.KICK): (_P.DONE, (_O.FAIL,)),
    (_P.IDLE, _I.SERVER_ERROR): (_P.IDLE, (_O.NOTE,)),
    (_P.LOGIN, _I.RANK): (_P.LOGIN, (_O.KEEP_RANK,)),
    (_P.LOGIN, _I.LOGIN_OK): (_P.JOINING, (_O.ACCEPT_LOGIN, _O.JOIN)),
    (_P.LOGIN, _I.LOGIN_LIMITED): (_P.LOGIN, (_O.RETRY_LOGIN,)),
    (_P.LOGIN, _I.LOGIN_REFUSED): (_P.DONE, (_O.FAIL,)),
    (_P.LOGIN, _I.KICK): (_P.DONE, (_O.FAIL,)),
    (_P.LOGIN, _I.SERVER_ERROR): (_P.LOGIN, (_O.NOTE,)),
    (_P.JOINING, _I.RANK): (_P.JOINING, (_O.KEEP_RANK,)),
    (_P.JOINING, _I.PASSWORD_ASKED): (_P.JOINING, (_O.SEND_PASSWORD,)),
    (_P.JOINING, _I.PASSWORD_REFUSED): (_P.DONE, (_O.FAIL,)),
    (_P.JOINING, _I.BURST_END_RANKED): (_P.READY, (_O.READY,)),
    (_P.JOINING, _I.BURST_END): (_P.BURST_DONE, ()),
    (_P.JOINING, _I.KICK): (_P.DONE, (_O.FAIL,)),
    (_P.JOINING, _I.SERVER_ERROR): (_P.JOINING, (_O.NOTE,)),
    (_P.BURST_DONE, _I.RANK): (_P.READY, (_O.KEEP_RANK, _O.READY)),
    (_P.BURST_DONE, _I.PASSWORD_ASKED): (_P.BURST_DONE, (_O.SEND_PASSWORD,)),
    (_P.BURST_DONE, _I.PASSWORD_REFUSED): (_P.DONE, (_O.FAIL,)),
    (_P.BURST_DONE, _I.KICK): (_P.DONE, (_O.FAIL,)),
    (_P.BURST_DONE, _I.SERVER_ERROR): (_P.BURST_DONE, (_O.NOTE,)),
    (_P.READY, _I.RANK): (_P.READY, (_O.KEEP_RANK,)),
    (_P.READY, _I.KICK): (_P.DONE, (_O.FAIL,)),
}


def _is_rank(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# The events classify() knows; every other one costs JoinFlow.handle one set look-up.
_FLOW_EVENTS = frozenset({"rank", "login", "needPassword", "userlist", "kick", "errorMsg"})


class JoinFlow:
    """The login/join conversation of one socket.io session."""

    def __init__(
        self,
        channel: str,
        *,
        username: str | None = None,
        password: str | None = None,
        channel_password: str | None = None,
        kicks: KickPolicy | None = None,
        guest_retry_limit: int = 3,
    ) -> None:
        self.channel = channel
        self.username = username
        self.rank: float | None = None
        self.name: str | None = None  # as the server spelled it in the login answer
        self.guest = False
        self.guest_retries = 0
        self._password = password
        self._channel_password = channel_password
        self._kicks = kicks if kicks is not None else KickPolicy()
        self._guest_retry_limit = guest_retry_limit
        self._phase = Phase.IDLE

    @property
    def phase(self) -> Phase:
        """Where the conversation is: idle, login, joining, burst done, ready or done."""
        return self._phase

    def start(self) -> list[Step]:
        """The namespace is connected: log in, or join at once when anonymous.

        Only the first call does anything (the flow is then past :attr:`Phase.IDLE`).
        """
        return self._fire(Input.START_LOGIN if self.username else Input.START_ANONYMOUS, None)

    def handle(self, name: str, data: Any) -> list[Step]:
        """One server event (already delivered to subscribers)."""
        if self._phase is Phase.DONE or name not in _FLOW_EVENTS:
            return []
        seen = self.classify(name, data)
        if seen is None:
            return []
        return self._fire(*seen)

    def classify(self, name: str, data: Any) -> tuple[Input, Any] | None:
        """The :class:`Input` a server event is to the flow now, with what its outputs need,
        or None for an event the flow does not look at (or a malformed one)."""
        match name:
            case "rank" if _is_rank(data):
                return Input.RANK, data
            case "login" if isinstance(data, dict):
                if data.get("success") is True:
                    return Input.LOGIN_OK, data
                error = login_error(data.get("error"))
                if (
                    isinstance(error, GuestLoginLimited)
                    and self.guest_retries < self._guest_retry_limit
                ):
                    return Input.LOGIN_LIMITED, error
                return Input.LOGIN_REFUSED, error
            case "needPassword":
                if data is True:
                    return Input.PASSWORD_REFUSED, ChannelPasswordError("channel password wrong")
                if self._channel_password:
                    return Input.PASSWORD_ASKED, None
                return Input.PASSWORD_REFUSED, ChannelPasswordError("channel password required")
            case "userlist":
                return (Input.BURST_END if self.rank is None else Input.BURST_END_RANKED), None
            case "kick":
                reason = data.get("reason") if isinstance(data, dict) else data
                return Input.KICK, Kicked(reason if isinstance(reason, str) else str(reason))
            case "errorMsg":
                return Input.SERVER_ERROR, data.get("msg") if isinstance(data, dict) else data
        return None

    # -- the machine ----------------------------------------------------------------------------

    def _fire(self, what: Input, payload: Any) -> list[Step]:
        move = TRANSITIONS.get((self._phase, what))
        if move is None:
            return []
        self._phase, outputs = move
        steps: list[Step] = []
        for output in outputs:
            steps.extend(self._output(output, payload))
        return steps

    def _output(self, output: Output, payload: Any) -> list[Step]:
        match output:
            case Output.SEND_LOGIN:
                return [Send("login", self._login_payload())]
            case Output.RETRY_LOGIN:
                self.guest_retries += 1
                note = (
                    f"guest login limited: {payload.server_message!r}; retrying in "
                    f"{payload.retry_after:g} s ({self.guest_retries}/{self._guest_retry_limit})"
                )
                return [Note(note), SendLater(payload.retry_after, "login", self._login_payload())]
            case Output.ACCEPT_LOGIN:
                name = payload.get("name")
                self.name = name if isinstance(name, str) else self.username
                self.guest = payload.get("guest") is True
                return []
            case Output.JOIN:
                join = {"name": self.channel}
                if self._channel_password:
                    join["pw"] = self._channel_password
                return [BeginJoin(), Send("joinChannel", join)]
            case Output.SEND_PASSWORD:
                return [Send("channelPassword", self._channel_password)]
            case Output.KEEP_RANK:
                self.rank = payload
                return []
            case Output.READY:
                assert self.rank is not None
                return [Ready(self.rank, self.name or self.username, self.guest)]
            case Output.NOTE:
                return [Note(f"server error while joining #{self.channel}: {payload}")]
            case Output.FAIL:
                return [self._failure(payload)]
        raise AssertionError(output)  # pragma: no cover

    def _login_payload(self) -> dict[str, str]:
        payload = {"name": self.username or ""}
        if self._password:
            payload["pw"] = self._password
        return payload

    def _failure(self, error: CytubeError) -> Fail:
        if isinstance(error, Kicked):
            if self._kicks.stops(error.reason):
                return Fail(error, fatal=True)
            return Fail(error, fatal=False, hold=self._kicks.rejoin_delay)
        if isinstance(error, GuestLoginLimited):
            return Fail(error, fatal=True)  # the retries are used up (else LOGIN_LIMITED)
        if isinstance(error, LoginError):
            return Fail(error, fatal=is_fatal(error))
        return Fail(error, fatal=True)  # the channel password: wrong, or none set


def stop_advice(error: CytubeError, *, username: str | None, channel: str, site: str) -> str:
    """What the operator can do about a failure that stopped the reconnect loop."""
    who = repr(username) if username else "rosey"
    if isinstance(error, ChannelPasswordError):
        return f"{error}: set channel_password for #{channel}"
    if isinstance(error, NoSuchChannel):
        return f"no channel #{channel} on {site} ({error}): check the channel name"
    if isinstance(error, LoginError):
        if isinstance(error, GuestLoginLimited):
            return (
                f"guest login as {who} still limited ({error.server_message!r}): "
                "restart later, or give rosey a registered account"
            )
        return f"login as {who} refused ({error.server_message!r}): check username and password"
    if isinstance(error, Kicked):
        reason = error.reason
        if reason.startswith("Duplicate login"):
            return (
                f"kicked ({reason!r}): another client logged in as {who}; stop it, "
                "or give rosey an account of its own"
            )
        if "banned" in reason.lower() or "blacklisted" in reason:
            return f"kicked ({reason!r}): {who} is banned; ask a moderator of #{channel} to unban"
        if reason.startswith("Invalid channel name"):
            return f"kicked ({reason!r}): #{channel} is not a valid channel name; fix it"
        return f"kicked ({reason!r})"
    return str(error)
