"""CyTube events to rosey's normalized :class:`~rosey.events.Event` (sans-IO, no logging).

Chat-like and presence events get normalized names and fields (``chatMsg`` → ``message``,
``pm`` → ``pm``, ``addUser`` → ``user_join``, ``userLeave`` → ``user_leave``, ``userlist`` →
``user_list``); every other event passes through under its CyTube name with its payload as
``platform_data``. :meth:`Normalizer.normalize` never raises: a known event whose payload has the
wrong shape passes through under its CyTube name with ``extra["malformed"]`` saying why, for the
connection to log.

The normalizer also tracks the join burst: between :meth:`Normalizer.begin_join` (``joinChannel``
sent) and the burst's ``userlist``, the server replays up to 15 buffered ``chatMsg`` with their
original times. Those come out with ``replayed=True``; a bot must never run commands from them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rosey.events import MESSAGE, PM, USER_JOIN, USER_LEAVE, USER_LIST, Event
from rosey.wire.text import html_to_text

__all__ = ["Normalizer"]

# chatMsg/pm "time" is epoch milliseconds. The bound rejects NaN, infinities and integers too big
# for a float (which would raise OverflowError on division) while allowing any plausible date.
_MAX_MS = 1e16


def _meta(data: dict[str, Any]) -> dict[str, Any]:
    meta = data.get("meta")
    return meta if type(meta) is dict else {}


def _time_error(time: Any) -> str | None:
    if type(time) is not int and type(time) is not float:
        return "time missing" if time is None else f"time is not a number ({type(time).__name__})"
    if not -_MAX_MS < time < _MAX_MS:
        return "time out of range"  # no repr: a huge int can exceed Python's str() digit limit
    return None


def _chat_error(user: Any, msg: Any, time: Any) -> str | None:
    if type(user) is not str:
        return "username is not a string"
    if type(msg) is not str:
        return "msg is not a string"
    return _time_error(time)


def _malformed(name: str, data: Any, why: str) -> Event:
    return Event(name, data, extra={"malformed": why})


class Normalizer:
    """Turns one connection's CyTube events into :class:`Event` objects.

    One instance per connection: it holds the join-burst state. ``replaying`` is True from
    :meth:`begin_join` until the next ``userlist``.
    """

    def __init__(self) -> None:
        self.replaying = False
        self._handlers: dict[str, Callable[[Any], Event]] = {
            "chatMsg": self._chat_msg,
            "pm": self._pm,
            "addUser": self._add_user,
            "userLeave": self._user_leave,
            "userlist": self._userlist,
        }

    def begin_join(self) -> None:
        """``joinChannel`` was sent: chat until the next ``userlist`` is the server's replay."""
        self.replaying = True

    def normalize(self, name: str, data: Any) -> Event:
        """The normalized event for CyTube event ``name`` with payload ``data``. Never raises."""
        handler = self._handlers.get(name)
        if handler is None:
            return Event(name, data)
        return handler(data)

    # -- chat -------------------------------------------------------------------------------

    def _chat_msg(self, data: Any) -> Event:
        if type(data) is not dict:
            return _malformed("chatMsg", data, "payload is not an object")
        user: Any = data.get("username")
        msg: Any = data.get("msg")
        time: Any = data.get("time")
        why = _chat_error(user, msg, time)
        if why is not None:
            return _malformed("chatMsg", data, why)
        meta = _meta(data)
        add_class = meta.get("addClass")
        return Event(
            MESSAGE,
            data,
            user=user,
            content=html_to_text(msg),
            timestamp=time / 1000,
            replayed=self.replaying,
            extra={
                "action": meta.get("action") is True or add_class == "action",
                "shadow": meta.get("shadow") is True,
                "server_whisper": add_class == "server-whisper",
                "meta": meta,
            },
        )

    def _pm(self, data: Any) -> Event:
        if type(data) is not dict:
            return _malformed("pm", data, "payload is not an object")
        user: Any = data.get("username")
        msg: Any = data.get("msg")
        time: Any = data.get("time")
        to: Any = data.get("to")
        why = _chat_error(user, msg, time)
        if why is None and type(to) is not str:
            why = "to is not a string"
        if why is not None:
            return _malformed("pm", data, why)
        return Event(
            PM,
            data,
            user=user,
            content=html_to_text(msg),
            timestamp=time / 1000,
            extra={"to": to, "meta": _meta(data)},
        )

    # -- presence ---------------------------------------------------------------------------

    def _add_user(self, data: Any) -> Event:
        if type(data) is not dict:
            return _malformed("addUser", data, "payload is not an object")
        name = data.get("name")
        if type(name) is not str:
            return _malformed("addUser", data, "name is not a string")
        meta = _meta(data)
        return Event(
            USER_JOIN,
            data,
            user=name,
            extra={
                "rank": data.get("rank"),
                "afk": meta.get("afk", False),
                "muted": meta.get("muted", False),
                "profile": data.get("profile"),
                "meta": meta,
            },
        )

    def _user_leave(self, data: Any) -> Event:
        if type(data) is not dict:
            return _malformed("userLeave", data, "payload is not an object")
        name = data.get("name")
        if type(name) is not str:
            return _malformed("userLeave", data, "name is not a string")
        return Event(USER_LEAVE, data, user=name)

    def _userlist(self, data: Any) -> Event:
        # The burst's last frame ends the replay window even when its payload is unusable.
        self.replaying = False
        if type(data) is not list:
            return _malformed("userlist", data, "payload is not a list")
        names = []
        for index, entry in enumerate(data):
            name = entry.get("name") if type(entry) is dict else None
            if type(name) is not str:
                return _malformed("userlist", data, f"entry {index} has no string name")
            names.append(name)
        return Event(USER_LIST, data, extra={"users": tuple(names)})
