"""``CyTubePeer``: a real python-socketio server (EIO 4) that plays one CyTube 3.86 channel.

The server runs on its own thread with its own asyncio loop, so the test process keeps the
default Twisted reactor. Tests drive and observe it through the thread-safe control API below;
the blocking calls (``start``, ``stop``, ``emit``…) wait for the peer's loop for a few
milliseconds at most, which is fine on the reactor thread of a test.

Deliberate differences from CyTube 3.86 (python-socketio / engine.io 4 behave so):

- A kick sends ``kick {reason}`` and ``41`` and keeps the websocket open, like CyTube:
  ``AsyncServer.disconnect(sid)`` only ends the namespace session. The engine.io socket then
  lives on (server pings continue) until the client closes it.
- The open packet advertises ``pingInterval`` in whole seconds (engine.io 4 truncates it);
  a fractional ``ping_interval`` is honoured for the pings themselves and advertised rounded up.
- A ``joinChannel`` for another (valid) channel name is refused with ``kick`` (CyTube would
  create that channel); a test that joins the wrong channel fails loudly.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from twisted.internet.defer import Deferred

from tests.peers import shapes
from tests.peers.channel import Channel, ChannelConfig
from tests.peers.server import PeerServer, ServerConfig
from tests.peers.state import Account, Member, Received
from tests.peers.waiting import Waiters

T = TypeVar("T")
CALL_TIMEOUT = 10.0


class CyTubePeer:
    """One CyTube channel served on ``127.0.0.1:<port>`` (see the module docstring).

    ``accounts`` maps a user name to ``(password, channel rank)`` (or an :class:`Account`);
    every account has global rank 1 (255 if its rank is ≥255). ``media`` is the catalogue for
    ``queue`` (``{id: {"title", "seconds", "meta"}}``). The other arguments are the CyTube
    settings of the same meaning; the defaults are CyTube's.
    """

    def __init__(
        self,
        channel: str = "labchan",
        *,
        accounts: Mapping[str, tuple[str, float] | Account] | None = None,
        guest_login_delay: float = 60.0,
        max_chat_length: int = 320,
        motd: str = "",
        css: str = "",
        js: str = "",
        emotes: list[dict[str, Any]] | None = None,
        options: dict[str, Any] | None = None,
        permissions: dict[str, float] | None = None,
        media: Mapping[str, Mapping[str, Any]] | None = None,
        connect_capacity: float = 5,
        connect_refill: float = 0.1,
        ip_connection_limit: int = 10,
        in_rate_limit: float | None = None,
        in_rate_burst: float | None = None,
        ping_interval: float = 25.0,
        ping_timeout: float = 120.0,
        usercount_interval: float = 10.0,
        media_update_interval: float = 5.0,
        lead_in: float = 3.0,
    ) -> None:
        accts = {
            name: value if isinstance(value, Account) else Account(value[0], value[1])
            for name, value in (accounts or {}).items()
        }
        self._config = config = ChannelConfig(
            name=channel,
            accounts=accts,
            guest_login_delay=guest_login_delay,
            max_chat_length=max_chat_length,
            motd=motd,
            css=css,
            js=js,
            emotes=list(emotes or []),
            options=dict(options or {}),
            permissions=dict(permissions or {}),
            media=dict(media or {}),
            usercount_interval=usercount_interval,
            media_update_interval=media_update_interval,
            lead_in=lead_in,
            ip_connection_limit=ip_connection_limit,
        )
        server_config = ServerConfig(
            connect_capacity=connect_capacity,
            connect_refill=connect_refill,
            in_rate_limit=in_rate_limit,
            in_rate_burst=in_rate_burst,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._waiters: Waiters[CyTubePeer] = Waiters(self, self._schedule, self._recent)
        self._server = PeerServer(config, server_config, self._waiters.check)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> CyTubePeer:
        """Start the thread and the server; blocks until it listens. Returns ``self``."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"cytube-peer-{self._config.name}", daemon=True
        )
        self._thread.start()
        self._call(self._server.start())
        return self

    def stop(self) -> None:
        """Close every connection and the listener, stop the loop and join the thread."""
        if self._loop is None or self._thread is None:
            return
        try:
            self._call(self._server.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CALL_TIMEOUT)
            self._loop.close()
            self._loop = self._thread = None

    def crash(self) -> None:
        """Simulate a dead server: stop listening and drop every connection (no ``41``, no
        close frame). Connects are refused until :meth:`resume`. Like CyTube after a restart,
        the chat buffer, playlist and virtual users are kept."""
        self._call(self._server.crash())

    def resume(self) -> None:
        """Listen again on the same port after :meth:`crash` (blocks until listening)."""
        self._call(self._server.listen())

    def restart(self) -> None:
        """:meth:`crash` then :meth:`resume`: a server restart on the same port."""
        self.crash()
        self.resume()

    @property
    def port(self) -> int:
        """The TCP port (fixed after :meth:`start`, kept by :meth:`restart`)."""
        return self._server.port

    @property
    def site(self) -> str:
        """``http://127.0.0.1:PORT``: the base for ``/socketconfig`` and socket.io."""
        return self._server.site

    # -- observation -------------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        """A snapshot of every event every client sent, in arrival order."""
        return list(self._server.received)

    def events(self, event: str, user: str | None = None) -> list[Received]:
        """The received events of one name (optionally from one user name)."""
        return [r for r in self.received if r.event == event and (user is None or r.user == user)]

    @property
    def users(self) -> list[str]:
        """Names of the logged-in users in the channel (sockets and virtual), join order."""
        return [u.name for u in list(self._chan.users) if u.name]

    @property
    def connections(self) -> int:
        """Live socket.io sessions (in the channel or not)."""
        return len(self._chan.sockets)

    def rank_of(self, name: str) -> float | None:
        """Effective rank of the user ``name`` in the channel, None if absent."""
        m = self._chan.find(name)
        return None if m is None else m.rank

    @property
    def connects(self) -> int:
        """Accepted socket.io connects."""
        return self._chan.stats.connects

    @property
    def refused(self) -> int:
        """Connects refused with ``44{"message":"Rate limit exceeded"}``."""
        return self._chan.stats.refused

    @property
    def kicks(self) -> int:
        """Kicks sent (any reason, virtual users included)."""
        return self._chan.stats.kicks

    @property
    def chat_delivered(self) -> int:
        """Chat messages from clients that passed the limits and were broadcast."""
        return self._chan.stats.chat_delivered

    @property
    def cooldowns_sent(self) -> int:
        """``cooldown`` frames sent (chat or PM throttled)."""
        return self._chan.stats.cooldowns_sent

    def when(self, predicate: Callable[[CyTubePeer], bool], timeout: float = 5.0) -> Deferred[None]:
        """A Deferred that fires with None once ``predicate(peer)`` is true.

        Call it on the reactor thread. The predicate runs on the peer's thread right away and
        after every received event, connect and disconnect (and after control calls); the
        result arrives through ``reactor.callFromThread``. After ``timeout`` s the Deferred
        fails with :class:`TimeoutError` (naming the last events received); an exception in
        the predicate fails it too. Cancelling the Deferred withdraws the condition.
        """
        return self._waiters.add(predicate, timeout)

    # -- control -----------------------------------------------------------------------------

    def emit(self, event: str, data: Any, to: str | None = None) -> None:
        """Send ``42[event, data]`` to the user ``to`` (by name) or to the whole channel."""

        async def go() -> None:
            if to is None:
                await self._chan.broadcast(event, data)
            else:
                await self._chan.send(self._member(to), event, data)

        self._call(go())

    def chat(self, username: str, msg: str) -> None:
        """A chat line from another user (no socket needed): escaped, filtered, buffered."""
        self._call(self._chan.chat.say(username, msg))

    def pm(self, username: str, to: str, msg: str) -> None:
        """A private message from ``username`` (no socket needed) to the user ``to``."""
        text = shapes.format_chat(msg[: self._config.max_chat_length], True, True)
        obj = {
            "username": username,
            "msg": text,
            "meta": {},
            "time": int(time.time() * 1000),
            "to": to,
        }
        self._call(self._on_member(to, lambda m: self._chan.send(m, "pm", obj)))

    def add_virtual_user(self, name: str, rank: float = 1) -> None:
        """A user without a socket joins (``addUser`` broadcast, usercount)."""
        self._call(self._chan.add_virtual(name, rank))

    def remove_virtual_user(self, name: str) -> None:
        """A virtual user leaves (``userLeave`` broadcast, usercount)."""
        self._call(self._on_member(name, self._chan.part))

    def kick(self, name: str, reason: str = "") -> None:
        """Kick a user like CyTube: ``kick {reason}`` then ``41`` (the websocket stays open)."""
        self._call(self._on_member(name, lambda m: self._chan.kick(m, reason)))

    def drop(self, name: str | None = None) -> None:
        """Abort the TCP connection of that user's socket, or of every socket: no ``41``,
        no close frame. The peer notices the loss (``userLeave``) a moment later."""

        async def go() -> None:
            targets = [self._member(name)] if name else list(self._chan.sockets.values())
            for m in targets:
                await self._server.drop(m)

        self._call(go())

    def set_rank(self, name: str, rank: float) -> None:
        """Change a user's channel rank: ``rank`` to that user, ``setUserRank`` to all."""
        self._call(self._on_member(name, lambda m: self._chan.set_rank(m, rank)))

    def set_options(self, **options: Any) -> None:
        """Change channel options (e.g. ``password="x"``) and broadcast ``channelOpts``."""
        self._call(self._chan.admin.set_options(options))

    def set_permissions(self, **nodes: float) -> None:
        """Change permission nodes (minimum ranks) and broadcast ``setPermissions``."""

        async def go() -> None:
            self._chan.permissions.update(nodes)
            await self._chan.broadcast("setPermissions", self._chan.permissions)

        self._call(go())

    def queue_media(self, media_id: str, media_type: str = "yt", *, temp: bool = False) -> None:
        """Append an item to the playlist as the server would for another user."""
        who = Member(name="[peer]", rank=255, global_rank=255)

        async def go() -> None:
            info = dict(self._config.media.get(media_id, {}))
            media = shapes.pack_media(
                media_id,
                info.get("title", media_id),
                int(info.get("seconds", 60)),
                media_type,
                dict(info.get("meta", {})),
            )
            await self._chan.playlist._add_item(who, media, "end", temp, media_id)

        self._call(go())

    # -- thread plumbing ---------------------------------------------------------------------

    @property
    def _chan(self) -> Channel:
        if self._server.channel is None:
            raise RuntimeError("CyTubePeer is not started")
        return self._server.channel

    async def _on_member(
        self, name: str, action: Callable[[Member], Coroutine[Any, Any, None]]
    ) -> None:
        # Looked up on the peer's thread, where the user table changes.
        await action(self._member(name))

    def _member(self, name: str) -> Member:
        m = self._chan.find(name) or next(
            (s for s in self._chan.sockets.values() if s.name == name), None
        )
        if m is None:
            raise KeyError(f"no user {name!r} on the peer")
        return m

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("CyTubePeer is not started")

        async def run() -> T:
            try:
                return await coro
            finally:
                self._waiters.check()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(CALL_TIMEOUT)

    def _schedule(self, fn: Callable[[], None]) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(fn)

    def _recent(self) -> str:
        last = [f"{r.user or r.sid}:{r.event}" for r in self._server.received[-5:]]
        users = self.users if self._server.channel else []
        return f"users={users}, last events received={last}"


def lab_accounts(password: str = "REDACTED") -> dict[str, tuple[str, float]]:
    """The accounts of the recorded lab channel (tests/fixtures/README.md), one password."""
    return {
        name: (password, rank)
        for name, rank in (("labowner", 5), ("labbot", 3), ("labmod", 2), ("labuser", 1))
    }


__all__ = ["Account", "CyTubePeer", "Received", "lab_accounts"]
