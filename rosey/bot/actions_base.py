"""What every group of actions shares: dependencies, local checks, and send-then-confirm.

Three ways to send, each registering its expectation first:

- :meth:`ActionBase._emit`: a plain event straight to the connection; the timeout runs at once.
- :meth:`ActionBase._command`: a chat command line (``/kick …``) through the injected ``say``
  (the flood-safe send queue, which spends a chat-limiter slot on it); the timeout starts when
  ``say`` reports the line sent. A failure of ``say`` fails the action, one reactor turn later:
  the send queue sees a server refusal (``errorMsg "/mute …"``) before the confirmations do, and
  the action's own, more specific error should win.
- a playlist ``queue`` through the optional ``queue_add`` (the send queue's queue lane), likewise.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from rosey.bot.confirm import Confirmations, FailMatcher, Matcher
from rosey.bot.errors import TargetNotFound
from rosey.bot.mirror import ChannelMirror
from rosey.bot.state import PlaylistItem, User
from rosey.errors import ChannelPermissionError, NotConnected
from rosey.events import Event
from rosey.interfaces import IConnection

__all__ = [
    "USERNAME",
    "ActionBase",
    "PMSender",
    "QueueSender",
    "Sender",
    "deferred_errors",
    "error_message",
    "payload_of",
]

P = ParamSpec("P")
T = TypeVar("T")

#: ``say(text, meta)``: send one chat line through the send queue; fires when the server echoed
#: it (or, for a chat command, when it went out and drew no refusal).
Sender = Callable[[str, "dict[str, Any] | None"], Deferred[None]]
#: ``pm(to, text)``: send one private message through the send queue; fires on its echo.
PMSender = Callable[[str, str], Deferred[None]]
#: ``queue_add(payload)``: emit a playlist ``queue`` under the server's queue limiter; fires
#: once sent.
QueueSender = Callable[[dict[str, Any]], Deferred[None]]

#: A valid CyTube user name (src/utilities.js ``isValidUserName``).
USERNAME = re.compile(r"[\w-]{1,20}", re.ASCII)


def deferred_errors(method: Callable[P, Deferred[T]]) -> Callable[P, Deferred[T]]:
    """Turn an exception raised while checking or sending into a failed Deferred: actions never
    raise, they fail."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        try:
            return method(*args, **kwargs)
        except Exception:
            return fail(Failure())

    return wrapper


def payload_of(event: Event, name: str) -> Any:
    """``event``'s payload when it is the CyTube event ``name``, else None."""
    return event.platform_data if event.name == name else None


def error_message(event: Event) -> str | None:
    """The text of an ``errorMsg`` event, else None."""
    data = payload_of(event, "errorMsg")
    if isinstance(data, dict):
        msg = data.get("msg")
        if isinstance(msg, str):
            return msg
    return None


class ActionBase:
    """Dependencies and helpers of the action groups; see :class:`rosey.bot.actions.Actions`."""

    def __init__(
        self,
        connection: IConnection,
        mirror: ChannelMirror,
        confirmations: Confirmations,
        say: Sender,
        pm: PMSender,
        clock: IReactorTime,
        *,
        queue_add: QueueSender | None = None,
        timeout: float = 10.0,
        queue_timeout: float = 30.0,
    ) -> None:
        self.connection = connection
        self.mirror = mirror
        self._voted_round: int | None = None  # the playlist's media_round the bot voted in
        self.confirmations = confirmations
        self._say = say
        self._pm = pm
        self._queue_add = queue_add
        self._clock = clock
        #: Seconds to wait for the server's confirmation of an action.
        self.timeout = timeout
        #: Seconds to wait for a ``queue`` (the server may look the media up first).
        self.queue_timeout = queue_timeout

    # -- local checks ---------------------------------------------------------------------------

    def _ready(self, action: str, *, login: bool = True) -> None:
        """Raise ``NotConnected`` unless joined, and ``ChannelPermissionError`` unless logged in
        (when ``login``)."""
        if not self.connection.ready:
            raise NotConnected(f"{action}: not connected to the channel")
        if login and not self.mirror.logged_in:
            raise ChannelPermissionError(f"{action} refused: the bot is not logged in")

    def _me(self) -> str:
        name = self.mirror.name
        if name is None:
            raise ChannelPermissionError("the bot is not logged in")
        return name

    def _is_me(self, name: str | None) -> bool:
        me = self.mirror.name
        return name is not None and me is not None and name.casefold() == me.casefold()

    def _user(self, name: str, action: str) -> User:
        """The listed user called ``name`` (any case), or ``TargetNotFound``."""
        user = self.mirror.users.get(name)
        if user is None:
            raise TargetNotFound(f"{action}: no user {name!r} in the channel")
        return user

    def _item(self, uid: int, action: str) -> PlaylistItem:
        """The playlist item ``uid``, or ``TargetNotFound`` (the server ignores unknown uids)."""
        if isinstance(uid, bool) or not isinstance(uid, int):
            raise TypeError(f"{action}: a playlist uid is an int, not {uid!r}")
        item = self.mirror.playlist.item(uid)
        if item is None:
            raise TargetNotFound(f"{action}: no playlist item with uid {uid}")
        return item

    # -- sending --------------------------------------------------------------------------------

    def _expect(
        self,
        match: Matcher[T],
        description: str,
        *,
        fail: FailMatcher | None = None,
        timeout: float | None = None,
        armed: bool = True,
    ) -> Deferred[T]:
        return self.confirmations.expect(
            match,
            fail=fail,
            timeout=(self.timeout if timeout is None else timeout) if armed else None,
            description=description,
        )

    def _emit(self, event: str, data: Any, done: Deferred[T]) -> Deferred[T]:
        """Send ``event`` now; ``done`` (already registered) is the action's result."""
        try:
            self.connection.emit(event, data)
        except Exception as e:
            self.confirmations.reject(done, e)
        return done

    def _command(self, line: str, done: Deferred[T], timeout: float | None = None) -> Deferred[T]:
        """Send a chat command line through ``say``; ``done`` was registered with no timer."""
        return self._via(lambda: self._say(line, None), done, timeout)

    def _queue_emit(self, payload: dict[str, Any], done: Deferred[T]) -> Deferred[T]:
        """Send a playlist ``queue``, through ``queue_add`` when there is one."""
        queue_add = self._queue_add
        if queue_add is None:
            self.confirmations.start_timer(done, self.queue_timeout)
            return self._emit("queue", payload, done)
        return self._via(lambda: queue_add(payload), done, self.queue_timeout)

    def _via(
        self, send: Callable[[], Deferred[None]], done: Deferred[T], timeout: float | None
    ) -> Deferred[T]:
        wait = self.timeout if timeout is None else timeout

        def sent(_: None) -> None:
            self.confirmations.start_timer(done, wait)

        def refused(failure: Failure) -> None:
            self._clock.callLater(0, self.confirmations.reject, done, failure.value)

        try:
            result = send()
        except Exception as e:
            self.confirmations.reject(done, e)
            return done
        result.addCallbacks(sent, refused)
        return done
