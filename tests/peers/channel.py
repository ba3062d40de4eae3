"""One CyTube 3.86 channel as the server sees it: users, join, login, ranks, kicks.

The chat, playlist, admin, CSS/JS/emote/filter and voteskip parts live in
:mod:`tests.peers.chat`, :mod:`tests.peers.playlist`, :mod:`tests.peers.admin`,
:mod:`tests.peers.custom` and :mod:`tests.peers.voteskip`, like CyTube's channel modules.
Everything here runs on the peer's asyncio loop; frames leave through a :class:`Transport`
(python-socketio in :mod:`tests.peers.cytube`). Method names follow CyTube's (``joinUser``,
``sendUserJoin``…) where the behaviour comes from there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.logger import Logger

from tests.peers import shapes
from tests.peers.state import Account, Member

log = Logger()

#: Returned by a handler that must not answer the client's ack (CyTube answers only newPoll).
NO_ACK = object()
ROOM = "channel"

Handler = Callable[[Member, Any], Awaitable[Any]]


class Transport(Protocol):
    """How the channel reaches the sockets."""

    async def emit(self, event: str, args: tuple[Any, ...], to: str) -> None:
        """Send ``42[event, *args]`` to one sid or to the room :data:`ROOM`."""

    async def disconnect(self, sid: str) -> None:
        """Send ``41`` and forget the namespace session (the websocket stays open)."""

    async def enter_room(self, sid: str) -> None:
        """Add a sid to :data:`ROOM`."""

    async def leave_room(self, sid: str) -> None:
        """Remove a sid from :data:`ROOM`."""


@dataclass
class ChannelConfig:
    """What a test can configure about the channel (see :class:`tests.peers.cytube.CyTubePeer`)."""

    name: str = "labchan"
    accounts: Mapping[str, Account] = field(default_factory=dict)
    guest_login_delay: float = 60.0
    max_chat_length: int = 320
    motd: str = ""
    css: str = ""
    js: str = ""
    emotes: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    permissions: dict[str, float] = field(default_factory=dict)
    media: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    usercount_interval: float = 10.0
    media_update_interval: float = 5.0
    lead_in: float = 3.0
    ip_connection_limit: int = 10


@dataclass
class Stats:
    """Counters the tests read (see the peer's properties of the same names)."""

    connects: int = 0
    refused: int = 0
    kicks: int = 0
    chat_delivered: int = 0
    cooldowns_sent: int = 0


def _is_js_type(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict | list)
    return False


def _crossed(old: float, new: float) -> bool:
    return any((old >= t) != (new >= t) for t in (2, 255))


class Channel:
    """The channel state and the presence logic (join, login, part, kick, ranks)."""

    def __init__(self, config: ChannelConfig, transport: Transport) -> None:
        from tests.peers.admin import AdminModule
        from tests.peers.chat import ChatModule
        from tests.peers.custom import CustomModule
        from tests.peers.leader import LeaderModule
        from tests.peers.login import LoginModule
        from tests.peers.playlist import PlaylistModule
        from tests.peers.voteskip import VoteskipModule

        self.config = config
        self.name = config.name.lower()
        self.transport = transport
        self.stats = Stats()
        self.accounts = {k.lower(): (k, v) for k, v in config.accounts.items()}
        self.options = shapes.default_options(self.name) | config.options
        self.permissions = dict(shapes.DEFAULT_PERMISSIONS) | config.permissions
        self.sockets: dict[str, Member] = {}
        self.users: list[Member] = []  # in the channel, in join order (sockets and virtual)
        self.leader: Member | None = None
        self.ack_requested = False
        self._usercount_timer: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Future[None]] = set()
        self._usercount_pending = False
        self.logins = LoginModule(self)
        self.chat = ChatModule(self)
        self.playlist = PlaylistModule(self)
        self.admin = AdminModule(self)
        self.leadership = LeaderModule(self)
        self.custom = CustomModule(self)
        self.voteskip = VoteskipModule(self)
        self.handlers: dict[str, Handler] = (
            self.chat.handlers()
            | self.playlist.handlers()
            | self.admin.handlers()
            | self.leadership.handlers()
            | self.custom.handlers()
            | self.voteskip.handlers()
        )

    # -- sending ---------------------------------------------------------------------------

    async def send(self, m: Member, event: str, *args: Any) -> None:
        """``socket.emit(event, *args)`` to one socket member (no-op for virtual users)."""
        if m.sid is not None:
            await self.transport.emit(event, args, m.sid)

    async def broadcast(self, event: str, *args: Any) -> None:
        """``broadcastAll``: every socket in the channel, anonymous viewers included."""
        await self.transport.emit(event, args, ROOM)

    def viewers(self) -> list[Member]:
        """The socket members in the channel."""
        return [u for u in self.users if u.sid is not None]

    def find(self, name: str) -> Member | None:
        """The logged-in user of that name in the channel (case-insensitive)."""
        lower = name.lower()
        return next((u for u in self.users if u.name and u.name.lower() == lower), None)

    def perm(self, m: Member, node: str) -> bool:
        """``permissions.hasPermission`` with the open-playlist ``o*`` nodes."""
        is_open = node.startswith("playlist") and not self.playlist.locked
        if is_open and m.rank >= self.permissions.get("o" + node, 1e9):
            return True
        return m.rank >= self.permissions.get(node, 1e9)

    async def typecheck(self, m: Member, event: str, data: Any, spec: dict[str, str]) -> bool:
        """``typecheckedOn``: ``spec`` maps keys to CyTube type strings ("number,optional").

        A mismatch answers ``errorMsg "Unexpected error for message <event>: …"``.
        """
        problem = None if isinstance(data, dict) else "Expected an object"
        for key, wanted in spec.items() if problem is None else ():
            kinds = wanted.split(",")
            if key not in data and "optional" in kinds:
                continue
            if not any(_is_js_type(data.get(key), kind) for kind in kinds):
                problem = f"Expected {key} to be of type {wanted.replace(',optional', '')}"
                break
        if problem is not None:
            msg = f"Unexpected error for message {event}: {problem}"
            await self.send(m, "errorMsg", {"msg": msg})
        return problem is None

    async def kick(self, m: Member, reason: str) -> None:
        """``user.kick``: ``kick {reason}`` then ``41``; a virtual user simply leaves."""
        self.stats.kicks += 1
        if m.sid is None:
            await self.part(m)
            return
        await self.send(m, "kick", {"reason": reason})
        await self.transport.disconnect(m.sid)

    async def send_userlist(self, m: Member) -> None:
        await self.send(m, "userlist", [u.pack(m.rank) for u in self.users if u.logged_in])

    async def send_usercount(self) -> None:
        """The usercount broadcast, throttled like lodash ``throttle`` (leading + trailing)."""
        interval = self.config.usercount_interval
        if interval <= 0:
            await self.broadcast("usercount", len(self.users))
            return
        if self._usercount_timer is not None:
            self._usercount_pending = True
            return
        await self.broadcast("usercount", len(self.users))
        self._arm_usercount(interval)

    def _arm_usercount(self, interval: float) -> None:
        def fire() -> None:
            self._usercount_timer = None
            if self._usercount_pending:
                self._usercount_pending = False
                self.spawn(self.broadcast("usercount", len(self.users)))
                self._arm_usercount(interval)

        self._usercount_timer = asyncio.get_running_loop().call_later(interval, fire)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a coroutine in the background from a timer callback (kept referenced)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def close(self) -> None:
        """Cancel timers (peer shutdown)."""
        if self._usercount_timer is not None:
            self._usercount_timer.cancel()
        self.playlist.stop_timer()
        self.admin.stop_timer()

    # -- socket lifecycle ------------------------------------------------------------------

    async def connected(self, m: Member) -> None:
        """Right after ``40{sid}``: ``rank -1``, and the per-IP socket limit."""
        self.sockets[m.sid or ""] = m
        same_ip = sum(1 for s in self.sockets.values() if s.ip == m.ip)
        if same_ip > self.config.ip_connection_limit:
            await self.kick(m, "Too many connections from your IP address")
            return
        await self.send(m, "rank", -1)

    async def disconnected(self, m: Member) -> None:
        """The socket went away (client leave, kick, drop): ``partUser``."""
        self.sockets.pop(m.sid or "", None)
        await self.part(m)

    async def part(self, m: Member) -> None:
        if m not in self.users:
            return
        self.users.remove(m)
        m.joined = False
        if m.sid is not None:  # socket.io leaves the rooms before "disconnect" handlers run
            await self.transport.leave_room(m.sid)
        if m.logged_in:
            await self.broadcast("userLeave", {"name": m.name})
        if self.leader is m:
            self.leader = None
            await self.leadership.resume_autolead()
        await self.voteskip.on_part(m)
        await self.send_usercount()

    async def handle(self, m: Member, event: str, data: Any, ack: bool = False) -> Any:
        """Dispatch one client event; returns the ack payload or :data:`NO_ACK`.

        ``ack`` says whether the client asked for an ack (handlers read ``ack_requested``).
        """
        self.ack_requested = ack
        if event == "joinChannel":
            await self.join(m, data)
        elif event == "login":
            await self.logins.login(m, data)
        elif event == "channelPassword":
            await self.channel_password(m, data)
        elif m.joined and event in self.handlers:
            return await self.handlers[event](m, data)
        return NO_ACK

    # -- join ------------------------------------------------------------------------------

    async def join(self, m: Member, data: Any) -> None:
        """``joinChannel`` (handled once per socket)."""
        if m.join_requested:
            return
        m.join_requested = True
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return
        name = data["name"]
        if not shapes.CHANNEL_NAME_RE.match(name):
            await self.send(m, "errorMsg", {"msg": shapes.MSG_INVALID_CHANNEL})
            await self.kick(m, "Invalid channel name")
            return
        if name.lower() != self.name:
            # Not CyTube (it would create the channel): loud, so a wrong name fails tests.
            reason = f"Channel could not be loaded: this peer only serves {self.name!r}"
            await self.send(m, "errorMsg", {"msg": reason, "alert": True})
            await self.kick(m, reason)
            return
        password = self.options.get("password")
        if password and m.rank < 2:
            pw = data.get("pw")
            if not (isinstance(pw, str) and pw == password):
                m.awaiting_password = True
                await self.send(m, "needPassword", bool(pw))
                return
        await self.accept(m)

    async def channel_password(self, m: Member, data: Any) -> None:
        if not m.awaiting_password or not isinstance(data, str):
            return
        if data == self.options.get("password"):
            await self.send(m, "cancelNeedPassword")
            await self.accept(m)
        else:
            await self.send(m, "needPassword", True)

    async def accept(self, m: Member) -> None:
        """``joinUser`` + ``acceptUser``: the join burst."""
        m.awaiting_password = False
        if m.registered and m.rank != m.global_rank:
            await self.send(m, "rank", m.rank)
        m.joined = True
        await self.transport.enter_room(m.sid or "")
        if m.logged_in:
            await self.kick_duplicates(m)
            await self.send_user_join(m)
        self.users.append(m)
        await self.send(m, "setPermissions", self.permissions)
        await self.send(m, "setPlaylistLocked", self.playlist.locked)
        await self.send(m, "emoteList", self.custom.emote_list())
        await self.chat.replay(m)
        await self.send(m, "drinkCount", 0)
        await self.send(m, "channelCSSJS", self.custom.css_js())
        await self.send(m, "setMotd", self.admin.motd)
        await self.send(m, "channelOpts", self.options)
        await self.playlist.send_playlist(m)
        await self.playlist.send_change_media(m)
        if m.registered:
            await self.playlist.send_playlist(m)
        await self.admin.send_poll(m)
        await self.send_userlist(m)
        if self.leader is not None:
            await self.send(m, "setLeader", self.leader.name)
        await self.send_usercount()
        if m.registered:
            await self.send(m, "listPlaylists", [])

    async def kick_duplicates(self, m: Member) -> None:
        for other in list(self.users):
            if (
                other is not m
                and other.sid
                and other.name
                and other.name.lower() == (m.name or "").lower()
            ):
                await self.kick(other, "Duplicate login")

    async def send_user_join(self, m: Member) -> None:
        """``sendUserJoin``: ``addUser`` to everyone, the ``[server]`` whisper to mods."""
        for viewer in self.viewers():
            await self.send(viewer, "addUser", m.pack(viewer.rank))
        aliases = ",".join(m.aliases) if m.aliases else m.name
        for viewer in self.viewers():
            if viewer.rank >= 2:
                await self.send(
                    viewer,
                    "chatMsg",
                    {
                        "username": "[server]",
                        "msg": f"{m.name} joined (aliases: {aliases})",
                        "meta": {"addClass": "server-whisper", "addClassToNameAndTimestamp": True},
                        "time": int(time.time() * 1000),
                    },
                )

    # -- ranks and virtual users -----------------------------------------------------------

    async def set_rank(self, m: Member, rank: float, announce_playlist: bool = False) -> None:
        """``setChannelRank``: ``rank`` to the user, userlist if it crossed 2/255, broadcast."""
        old, m.rank = m.rank, rank
        await self.send(m, "rank", rank)
        if _crossed(old, rank):
            await self.send_userlist(m)
        if announce_playlist:
            await self.playlist.send_playlist(m)
        if m.joined or m.virtual:
            await self.broadcast("setUserRank", {"name": m.name, "rank": rank})

    async def add_virtual(self, name: str, rank: float) -> Member:
        """A user that is in the channel without a socket (crowd tests)."""
        m = Member(name=name, rank=rank, global_rank=min(rank, 1), ip="10.255.255.254")
        m.aliases = [name]
        await self.send_user_join(m)
        self.users.append(m)
        await self.send_usercount()
        return m
