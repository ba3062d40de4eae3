"""The write operations each of one channel's events becomes.

Sans-IO: :class:`ChannelTracker` gets events and hands operations to ``push``. It keeps no
model of the channel: who is here, how many are connected, what the current playlist item is
and the bot's own login, rank and AFK flag it reads from an :class:`~rosey.interfaces.IChannelState`
(the bot's mirror), which has already applied the event at hand. What it keeps is what the
database needs and the mirror does not: the high-water marks and the status row, coalesced
(:meth:`ChannelTracker.pending` returns them once per batch instead of one write per event), and
whether this session's users and counts are known yet (sessions and snapshots start then).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReactorTime

from rosey import events
from rosey.events import Event
from rosey.interfaces import IChannelState
from rosey.storage import ops as o
from rosey.storage.rows import BotStatus


def _text(value: object) -> str:
    s = "" if value is None else str(value)
    # PostgreSQL cannot store NUL; dropping it here keeps hostile chat off the slow path.
    return s.replace("\x00", "") if "\x00" in s else s


def _name(event: Event) -> str | None:
    if event.user:
        return event.user
    data = event.platform_data
    if isinstance(data, dict):
        name = data.get("name") or data.get("username")
        return str(name) if name else None
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class ChannelTracker:
    """Turns one channel's events into write operations (see the module docstring)."""

    def __init__(
        self, clock: IReactorTime, view: IChannelState, push: Callable[[o.WriteOp], None]
    ) -> None:
        self._clock = clock
        self._view = view
        self._push = push
        #: The user list is known this session (joins and leaves open and close sessions).
        self._observing = False
        #: A connection count came this session.
        self._counted = False
        self._max_users = 0
        self._max_connected = 0
        # One pending mark per count, each with its own time (merged they would share one).
        self._high_water: dict[str, o.HighWater] = {}
        self.status = BotStatus(channel="")
        self._status_dirty = False
        #: The user count the status is to get (``status.chat_users`` lags until pending()).
        self._chat_users = 0
        self._handlers: dict[str, Callable[[Event, float], None]] = {
            events.PM: self._pm,
            events.USER_JOIN: self._join,
            events.USER_LEAVE: self._leave,
            events.USER_LIST: self._user_list,
            events.CONNECTED: self._connected,
            events.READY: self._connected,
            events.DISCONNECTED: self._disconnected,
            events.KICKED: self._disconnected,
            "usercount": self._usercount,
            "changeMedia": self._change_media,
            "setPlaylistMeta": self._playlist_meta,
            "rank": self._rank,
            "setUserRank": self._rank,
            "login": self._login,
            "setAFK": self._afk,
            "setUserMeta": self._afk,
        }

    # -- lifecycle ----------------------------------------------------------------------------

    def started(self, now: float) -> None:
        """The recorder started: the status gets a start time."""
        self._set_status(start_time=now)

    def stopped(self, now: float) -> None:
        """The recorder stops: open sessions end now; the bot is no longer connected."""
        self._end_sessions(now)
        self._set_status(connected=False)

    def sample(self, now: float) -> o.UserCountSample | None:
        """A user-count snapshot, or None before any count is known this session."""
        if not self._observing and not self._counted:
            return None
        chat = self._view.user_count if self._observing else 0
        count = self._view.connected_count if self._counted else None
        return o.UserCountSample(now, chat, count if count is not None else chat)

    def has_pending(self) -> bool:
        """True if coalesced writes wait for the next batch."""
        return (
            bool(self._high_water)
            or self._status_dirty
            or self._chat_users != self.status.chat_users
        )

    def pending(self, now: float) -> list[o.WriteOp]:
        """The coalesced writes (high-water marks, status), once."""
        out: list[o.WriteOp] = []
        out.extend(self._high_water.values())
        self._high_water = {}
        if self._chat_users != self.status.chat_users:
            self._set_status(chat_users=self._chat_users)
        if self._status_dirty:
            out.append(o.StatusChanged(dataclasses.replace(self.status, last_updated=now)))
            self._status_dirty = False
        return out

    # -- events -------------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Record one event (the view has applied it already)."""
        if event.name == events.MESSAGE:  # the hot path: one allocation, few checks
            ts = event.timestamp
            if ts is None:
                ts = self._clock.seconds()
            user, text = event.user, event.content
            if not user or text is None:
                data = event.platform_data if isinstance(event.platform_data, dict) else {}
                user = user or data.get("username")
                if not user:
                    return
                text = _text(text if text is not None else data.get("msg"))
            elif "\x00" in text:
                text = _text(text)
            self._push(o.ChatLine(ts, username=user, message=text, replayed=event.replayed))
            return
        handler = self._handlers.get(event.name)
        if handler is not None:
            ts = event.timestamp if event.timestamp is not None else self._clock.seconds()
            handler(event, ts)

    def _pm(self, event: Event, ts: float) -> None:
        sender = _name(event)
        if not sender or sender == self._view.name:
            return  # the server echoes the bot's own PMs back to it
        data = event.platform_data if isinstance(event.platform_data, dict) else {}
        text = event.content if event.content is not None else data.get("msg")
        self._push(o.ActionLogged(ts, _text(sender), "pm", _text(text)))

    def _join(self, event: Event, ts: float) -> None:
        name = _name(event)
        if not name:
            return
        self._observing = True
        self._push(o.UserJoined(ts, name))
        self._users_changed(ts)

    def _leave(self, event: Event, ts: float) -> None:
        name = _name(event)
        if not name:
            return
        self._push(o.UserLeft(ts, name))
        self._users_changed(ts)

    def _user_list(self, event: Event, ts: float) -> None:
        data = event.platform_data
        if not isinstance(data, list):
            raise ValueError(f"user list is not a list: {type(data).__name__}")
        self._observing = True
        self._push(o.Presence(ts, self._view.user_names))
        self._users_changed(ts)

    def _users_changed(self, ts: float) -> None:
        n = self._view.user_count
        # The status takes the count at the next batch (pending): rebuilding it on every join
        # and leave cost more than recording the join.
        self._chat_users = n
        if n > self._max_users:
            self._max_users = n
            self._raise_high_water(ts, chat_users=n)

    def _usercount(self, event: Event, ts: float) -> None:
        count = self._view.connected_count
        if _number(event.platform_data) is None or count is None:
            raise ValueError(f"usercount is not a number: {event.platform_data!r}")
        self._counted = True
        self._set_status(connected_users=count)
        if count > self._max_connected:
            self._max_connected = count
            self._raise_high_water(ts, connected_users=count)

    def _raise_high_water(self, ts: float, **counts: int) -> None:
        for name, count in counts.items():
            self._high_water[name] = o.HighWater(ts, **{name: count})

    def _connected(self, event: Event, ts: float) -> None:
        self._set_status(connected=True)

    def _disconnected(self, event: Event, ts: float) -> None:
        self._end_sessions(ts)
        self._counted = False
        self._set_status(connected=False, chat_users=0, connected_users=0)

    def _end_sessions(self, ts: float) -> None:
        if self._observing:
            self._push(o.SessionsEnded(ts))
        self._observing = False

    # -- playlist and media -------------------------------------------------------------------

    def _playlist_meta(self, event: Event, ts: float) -> None:
        data = event.platform_data
        if isinstance(data, dict) and _number(data.get("count")) is not None:
            self._set_status(playlist_items=int(data["count"]))

    def _change_media(self, event: Event, ts: float) -> None:
        data = event.platform_data
        if not isinstance(data, dict) or data.get("id") is None:
            raise ValueError("changeMedia without a media id")
        media_type, media_id = str(data.get("type", "")), str(data["id"])
        title = _text(data.get("title"))
        duration = int(_number(data.get("seconds")) or 0)
        # Negative during the lead-in: the item starts that many seconds from now.
        elapsed = _number(data.get("currentTime")) or 0.0
        # Who queued it: the current item, if it is what plays.
        item = self._view.current_item()
        queued_by = item[2] if item is not None and item[:2] == (media_type, media_id) else None
        self._push(o.MediaChanged(ts - elapsed, media_type, media_id, title, duration, queued_by))
        self._set_status(media_title=title, media_duration=duration)

    # -- the bot itself -----------------------------------------------------------------------

    def _rank(self, event: Event, ts: float) -> None:
        self._set_status(bot_rank=self._view.rank)

    def _login(self, event: Event, ts: float) -> None:
        if self._view.name is not None:
            self._set_status(bot_name=self._view.name)

    def _afk(self, event: Event, ts: float) -> None:
        data, name = event.platform_data, self._view.name
        if name is not None and isinstance(data, dict) and data.get("name") == name:
            self._set_status(bot_afk=self._view.afk)

    def _set_status(self, **changes: Any) -> None:
        if "chat_users" in changes:
            self._chat_users = changes["chat_users"]
        new = dataclasses.replace(self.status, **changes)
        if new != self.status:
            self.status = new
            self._status_dirty = True
