"""An exact copy of the channel as the CyTube server describes it.

:class:`ChannelMirror` consumes normalized :class:`~rosey.events.Event` objects in arrival
order and keeps what the server has told this connection: who is here and with what rank, the
playlist and what plays, the channel's settings, and the bot's own login and rank. It does no
I/O and never raises on bad input: a payload of the wrong shape is logged in one line and
ignored. A ``connected`` event (new socket.io session) forgets everything, because the next
join burst sends it all again.

The parts live in :mod:`rosey.bot.state`: ``mirror.users`` (:class:`UserList`),
``mirror.playlist`` (:class:`Playlist`) and ``mirror.channel`` (:class:`ChannelSettings`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.logger import Logger
from zope.interface import implementer

from rosey import events
from rosey.bot.state import ChannelSettings, Playlist, User, UserList
from rosey.bot.state.models import Malformed, as_bool, as_dict, as_number, as_str
from rosey.events import Event
from rosey.interfaces import CurrentItem, IChannelState

log = Logger()

LEADER_RANK = 1.5

_Handler = Callable[[Any], None]


@implementer(IChannelState)
class ChannelMirror:
    """The channel state one connection has been told, plus the bot's own identity.

    It is the channel's one model: the recorder reads it through
    :class:`~rosey.interfaces.IChannelState`.

    Own identity: ``name`` (None until a successful ``login``), ``guest``, and ``rank``, the
    rank the server last gave the bot (``rank`` events, including the two of the login
    sequence, and ``setUserRank`` naming the bot); -1 (anonymous) until told otherwise.
    Permission checks use :attr:`effective_rank`, which also counts leadership.
    """

    users: UserList
    playlist: Playlist
    channel: ChannelSettings
    name: str | None
    guest: bool
    rank: float

    def __init__(self) -> None:
        self.users = UserList()
        self.playlist = Playlist()
        self.channel = ChannelSettings()
        self._reset_self()
        self._complained: set[str] = set()
        self._handlers = self._handler_table()

    # -- own user -----------------------------------------------------------------------------

    @property
    def logged_in(self) -> bool:
        """True once a ``login`` succeeded (as a guest or with a password)."""
        return self.name is not None

    @property
    def me(self) -> User | None:
        """The bot's own entry in the user list, when it is listed."""
        return None if self.name is None else self.users.get(self.name)

    @property
    def afk(self) -> bool:
        """Whether the server has the bot marked AFK."""
        me = self.me
        return me is not None and me.afk

    @property
    def muted(self) -> bool:
        """Whether the bot is muted (``/smute`` sets muted too)."""
        me = self.me
        return me is not None and me.muted

    @property
    def is_leader(self) -> bool:
        """Whether the bot is the channel's leader."""
        leader = self.users.leader
        return (
            self.name is not None
            and leader is not None
            and leader.casefold() == self.name.casefold()
        )

    @property
    def effective_rank(self) -> float:
        """The rank CyTube checks permissions against: at least 1.5 while the bot leads."""
        if self.is_leader:
            return max(self.rank, LEADER_RANK)
        return self.rank

    # -- IChannelState (what the recorder reads) ------------------------------------------------

    @property
    def user_count(self) -> int:
        """How many users are listed."""
        return len(self.users)

    @property
    def user_names(self) -> tuple[str, ...]:
        """Every listed name, in list order."""
        return self.users.names

    @property
    def connected_count(self) -> int | None:
        """Sockets in the channel (``usercount``), None before the first count."""
        return self.users.usercount

    def current_item(self) -> CurrentItem | None:
        """The current playlist item as (media type, media id, queued by), or None."""
        item = self.playlist.current
        if item is None:
            return None
        return (item.media.type, item.media.id, item.queueby or None)

    def _is_self(self, name: str) -> bool:
        return self.name is not None and name.casefold() == self.name.casefold()

    # -- input --------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything, own identity included."""
        self.users.reset()
        self.playlist.reset()
        self.channel.reset()
        self._reset_self()
        self._complained.clear()

    def follows(self, name: str) -> bool:
        """Whether :meth:`apply` does anything with events named ``name``."""
        return name in self._handlers

    def apply(self, event: Event) -> None:
        """Update the mirror from one event. Unknown events are ignored; never raises.

        A payload of the wrong shape is ignored and logged in one line, the first time per event
        name and session.

        Events the normalizer flagged as malformed (``extra["malformed"]``) are skipped without
        a word: the connection has logged them already.
        """
        handler = self._handlers.get(event.name)
        if handler is None or event.extra.get("malformed"):
            return
        try:
            handler(event.platform_data)
        except Malformed as e:
            if event.name not in self._complained:  # a broken server could repeat it forever
                self._complained.add(event.name)
                log.warn(
                    "Channel mirror ignored a malformed {name!r} event: {reason}"
                    " (further ones this session are not logged)",
                    name=event.name,
                    reason=str(e),
                )
        except Exception:
            log.failure("Channel mirror failed on a {name!r} event", name=event.name)

    # -- handlers of their own ----------------------------------------------------------------

    def _reset_self(self) -> None:
        self.name = None
        self.guest = False
        self.rank = -1.0

    def _on_connected(self, data: Any) -> None:
        self.reset()

    def _on_rank(self, data: Any) -> None:
        self.rank = float(as_number(data, "rank"))

    def _on_login(self, data: Any) -> None:
        payload = as_dict(data, "login")
        if not as_bool(payload.get("success"), "success"):
            return
        name = as_str(payload.get("name"), "name")
        self.guest = as_bool(payload.get("guest", False), "guest")
        self.name = name

    def _on_set_user_rank(self, data: Any) -> None:
        name, rank = self.users.on_set_user_rank(data)
        if self._is_self(name):
            self.rank = rank

    def _handler_table(self) -> dict[str, _Handler]:
        users, playlist, channel = self.users, self.playlist, self.channel
        return {
            events.CONNECTED: self._on_connected,
            "rank": self._on_rank,
            "login": self._on_login,
            # users
            events.USER_LIST: users.on_userlist,
            events.USER_JOIN: users.on_add_user,
            events.USER_LEAVE: users.on_user_leave,
            "setUserRank": self._on_set_user_rank,
            "setAFK": users.on_set_afk,
            "setUserMeta": users.on_set_user_meta,
            "setUserProfile": users.on_set_user_profile,
            "setLeader": users.on_set_leader,
            "usercount": users.on_usercount,
            # playlist and playback
            "playlist": playlist.on_playlist,
            "queue": playlist.on_queue,
            "delete": playlist.on_delete,
            "moveVideo": playlist.on_move_video,
            "setTemp": playlist.on_set_temp,
            "setCurrent": playlist.on_set_current,
            "changeMedia": playlist.on_change_media,
            "mediaUpdate": playlist.on_media_update,
            "setPlaylistLocked": playlist.on_set_playlist_locked,
            "setPlaylistMeta": playlist.on_set_playlist_meta,
            # channel
            "setMotd": channel.on_set_motd,
            "channelCSSJS": channel.on_channel_css_js,
            "channelOpts": channel.on_channel_opts,
            "setPermissions": channel.on_set_permissions,
            "emoteList": channel.on_emote_list,
            "updateEmote": channel.on_update_emote,
            "renameEmote": channel.on_rename_emote,
            "removeEmote": channel.on_remove_emote,
            "chatFilters": channel.on_chat_filters,
            "updateChatFilter": channel.on_update_chat_filter,
            "deleteChatFilter": channel.on_delete_chat_filter,
            "drinkCount": channel.on_drink_count,
            "voteskip": channel.on_voteskip,
            "newPoll": channel.on_poll,
            "updatePoll": channel.on_poll,
            "closePoll": channel.on_close_poll,
            "channelNotRegistered": channel.on_channel_not_registered,
        }
