"""Logging in and joining a channel on one socket.io session (sans-IO).

:class:`JoinFlow` sees the server's events and returns *steps* for the connection to carry out;
it never sends, logs or reads a clock itself. The order is CyTube's: login first (registered
``{name, pw}``, guest ``{name}``, or none for anonymous) and wait for the ``login`` answer, then
``joinChannel {name[, pw]}``. The session is ready once the join burst has ended (``userlist``)
and the bot's own rank is known; with login before join the server sends ``rank`` first in the
burst, so the rank seen by ``userlist`` is the final one.
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

__all__ = ["BeginJoin", "Fail", "JoinFlow", "Note", "Ready", "Send", "SendLater", "Step"]


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


class _Phase(enum.Enum):
    IDLE = "idle"
    LOGIN = "login"  # login sent, waiting for its answer
    JOINING = "joining"  # joinChannel sent, burst not over
    BURST_DONE = "burst done"  # userlist seen, own rank not yet
    READY = "ready"
    DONE = "done"  # failed; nothing more to do


def _is_rank(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# The events the flow looks at (see JoinFlow.handle); every other one costs one set look-up.
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
        self._phase = _Phase.IDLE

    @property
    def phase(self) -> str:
        """Where the conversation is: idle, login, joining, burst done, ready or done."""
        return self._phase.value

    def start(self) -> list[Step]:
        """The namespace is connected: log in, or join at once when anonymous."""
        if self.username:
            self._phase = _Phase.LOGIN
            return [Send("login", self._login_payload())]
        return self._join()

    def handle(self, name: str, data: Any) -> list[Step]:
        """One server event (already delivered to subscribers)."""
        if self._phase is _Phase.DONE or name not in _FLOW_EVENTS:
            return []
        match name:
            case "rank" if _is_rank(data):
                self.rank = data
                if self._phase is _Phase.BURST_DONE:
                    return self._ready()
            case "login":
                return self._on_login(data)
            case "needPassword":
                return self._on_need_password(data)
            case "userlist" if self._phase is _Phase.JOINING:
                if self.rank is None:
                    self._phase = _Phase.BURST_DONE
                    return []
                return self._ready()
            case "kick":
                reason = data.get("reason") if isinstance(data, dict) else data
                return self._on_kick(reason if isinstance(reason, str) else str(reason))
            case "errorMsg" if self._phase is not _Phase.READY:
                text = data.get("msg") if isinstance(data, dict) else data
                return [Note(f"server error while joining #{self.channel}: {text}")]
        return []

    # -- steps ----------------------------------------------------------------------------------

    def _login_payload(self) -> dict[str, str]:
        payload = {"name": self.username or ""}
        if self._password:
            payload["pw"] = self._password
        return payload

    def _join(self) -> list[Step]:
        self._phase = _Phase.JOINING
        payload = {"name": self.channel}
        if self._channel_password:
            payload["pw"] = self._channel_password
        return [BeginJoin(), Send("joinChannel", payload)]

    def _ready(self) -> list[Step]:
        self._phase = _Phase.READY
        assert self.rank is not None
        return [Ready(self.rank, self.name or self.username, self.guest)]

    def _fail(self, error: CytubeError, fatal: bool, hold: float = 0.0) -> list[Step]:
        self._phase = _Phase.DONE
        return [Fail(error, fatal, hold)]

    def _on_login(self, data: Any) -> list[Step]:
        if self._phase is not _Phase.LOGIN or not isinstance(data, dict):
            return []
        if data.get("success") is True:
            name = data.get("name")
            self.name = name if isinstance(name, str) else self.username
            self.guest = data.get("guest") is True
            return self._join()
        error = login_error(data.get("error"))
        if isinstance(error, GuestLoginLimited):
            if self.guest_retries < self._guest_retry_limit:
                self.guest_retries += 1
                note = (
                    f"guest login limited: {error.server_message!r}; retrying in "
                    f"{error.retry_after:g} s ({self.guest_retries}/{self._guest_retry_limit})"
                )
                return [Note(note), SendLater(error.retry_after, "login", self._login_payload())]
            return self._fail(error, fatal=True)
        return self._fail(error, fatal=is_fatal(error))

    def _on_need_password(self, wrong: Any) -> list[Step]:
        if self._phase not in (_Phase.JOINING, _Phase.BURST_DONE):
            return []
        if wrong is True:
            return self._fail(ChannelPasswordError("channel password wrong"), fatal=True)
        if self._channel_password:
            return [Send("channelPassword", self._channel_password)]
        return self._fail(ChannelPasswordError("channel password required"), fatal=True)

    def _on_kick(self, reason: str) -> list[Step]:
        if self._kicks.stops(reason):
            return self._fail(Kicked(reason), fatal=True)
        return self._fail(Kicked(reason), fatal=False, hold=self._kicks.rejoin_delay)


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
