"""The Bot service: the business layer between one channel's connection and its handlers.

It never touches sockets or SQL. Each normalized event from the :class:`IConnection` goes, in
this order, to the channel mirror (so handlers see the state the event created), the
subscribers (:meth:`Bot.subscribe`: the recorder), the send
queue (confirmations, cooldowns), the action confirmations, and then the dispatcher (handlers,
commands).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from rosey.bot.actions import Actions
from rosey.bot.commands import Command, CommandRegistry, CommandRouter, OutputMemory
from rosey.bot.confirm import Confirmations
from rosey.bot.dispatch import MAX_CACHED_NAMES, Dispatcher, Handler
from rosey.bot.mirror import ChannelMirror
from rosey.bot.ratelimit import RateParams
from rosey.bot.sendqueue import SendQueue
from rosey.events import Event
from rosey.interfaces import IConnection
from rosey.storage.interface import IStorage
from rosey.storage.noop import NoopStorage

# (mirror step, send-queue step, handlers): what Bot.handle_event runs for one event name
_Route = tuple[Callable[[Event], None] | None, Callable[[Event], None] | None, tuple[Handler, ...]]


class Bot(MultiService):
    """One channel's bot: mirror, dispatch, commands, actions and the flood-safe send queue.

    ``bot.on(event, handler)`` / ``bot.off`` register handlers; ``bot.commands`` holds the
    declared commands; ``bot.actions`` does things in the channel; ``bot.say`` and ``bot.pm``
    send through the queue; ``bot.storage`` is the channel's
    :class:`~rosey.storage.interface.IStorage` (a no-op one when none is given).

    A bare bot has no commands: the daemon loads them from plugins (the **core** plugin has the
    built-in ones), each through its own :class:`~rosey.api_impl.PluginAPI`.
    """

    log = Logger()

    def __init__(
        self,
        connection: IConnection,
        *,
        clock: IReactorTime,
        prefix: str = "!",
        queue_margin: float = 0.025,
        storage: IStorage | None = None,
        storage_key: str | None = None,
    ) -> None:
        super().__init__()
        self.connection = connection
        self.storage: IStorage = storage if storage is not None else NoopStorage()
        #: The channel name rows are scoped by in storage (``site-host/channel`` in the daemon,
        #: so two sites' same-named channels never mix).
        self.storage_key: str = storage_key or str(connection.channel)
        self.clock = clock
        #: ``clock.seconds()`` when the bot was made (``!about`` counts uptime from it).
        self.created_at = clock.seconds()
        self.mirror = ChannelMirror()
        self.dispatcher = Dispatcher(self.log)
        self.memory = OutputMemory(clock)
        self.queue = SendQueue(
            connection,
            clock,
            own_rank=lambda: self.mirror.effective_rank,
            antiflood=lambda: RateParams.from_channel_opts(self.mirror.channel.options),
            own_name=lambda: self.mirror.name or connection.username,
            remember=self.memory.remember,
            margin=queue_margin,
            subscribe=False,
        )
        self.queue.setServiceParent(self)
        self.commands = CommandRegistry()
        self.router = CommandRouter(
            self.commands,
            self.queue,
            clock,
            own_name=lambda: self.mirror.name or connection.username,
            rank_of=self._rank_of,
            prefix=prefix,
            own_output=self.memory,
            services=self,
        )
        self.router.attach(self.dispatcher)
        self.confirmations = Confirmations(clock)
        self.actions = Actions(
            connection,
            self.mirror,
            self.confirmations,
            self.queue.say,
            self.queue.pm,
            clock,
            queue_add=self.queue.queue_add,
        )
        # The event path, per event name: handle_event runs for every event, and most events
        # are none of the mirror's or the queue's business.
        self._routes: dict[str, _Route] = {}
        self.dispatcher.watch(self._routes.clear)
        self._confirm = self.confirmations.feed
        self._run_handlers = self.dispatcher.run_handlers
        self._subscribers: tuple[Callable[[Event], object], ...] = ()

    # -- handlers and commands ----------------------------------------------------------------

    def on(self, event: str, handler: Handler) -> Handler:
        """Run ``handler(event)`` for every event named ``event`` (``"*"``: every event)."""
        return self.dispatcher.on(event, handler)

    def off(self, event: str, handler: Handler) -> None:
        """Stop running ``handler`` for ``event``."""
        self.dispatcher.off(event, handler)

    def add_command(self, *commands: Command) -> None:
        """Add commands declared with :func:`rosey.bot.commands.command`."""
        self.commands.add(*commands)

    def say(self, text: str, meta: dict[str, Any] | None = None) -> Deferred[None]:
        """Send a chat line through the flood-safe queue."""
        return self.queue.say(text, meta)

    def pm(self, to: str, text: str) -> Deferred[None]:
        """Send a private message through the flood-safe queue."""
        return self.queue.pm(to, text)

    # -- the event path -----------------------------------------------------------------------

    def subscribe(self, listener: Callable[[Event], object]) -> None:
        """Hand every event to ``listener`` right after the mirror applied it, before the queue
        and the handlers (the recorder reads ``bot.mirror`` then). It should not raise: an
        exception is logged and the event goes on."""
        self._subscribers += (listener,)

    def unsubscribe(self, listener: Callable[[Event], object]) -> None:
        """Stop handing events to ``listener``."""
        self._subscribers = tuple(s for s in self._subscribers if s != listener)

    def handle_event(self, event: Event) -> bool | Deferred[bool]:
        """Feed one normalized event through mirror, queue, confirmations and handlers.

        Returns what :meth:`Dispatcher.run <rosey.bot.dispatch.Dispatcher.run>` does: a bool
        when every handler was synchronous (no Deferred is made per event), else a Deferred that
        fires once the handlers are done. Either way it never fails.
        """
        route = self._routes.get(event.name)
        if route is None:
            route = self._route(event.name)
        apply, answer, handlers = route
        if apply is not None:
            apply(event)
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                self.log.failure("a subscriber failed on a {name!r} event", name=event.name)
        if answer is not None:
            answer(event)
        self._confirm(event)
        return self._run_handlers(event, handlers)

    def _route(self, name: str) -> _Route:
        """The steps of :meth:`handle_event` for events named ``name``, kept until the
        dispatcher's handlers change."""
        mirror = self.mirror
        if len(self._routes) >= MAX_CACHED_NAMES:
            self._routes.clear()
        route = self._routes[name] = (
            mirror.apply if mirror.follows(name) else None,
            self.queue.answer_for(name),
            self.dispatcher.handlers(name),
        )
        return route

    def _rank_of(self, name: str) -> float | None:
        user = self.mirror.users.get(name)
        return None if user is None else user.rank

    def startService(self) -> None:
        self.connection.subscribe(self.handle_event)
        super().startService()

    def stopService(self) -> Deferred[None] | None:
        self.connection.unsubscribe(self.handle_event)
        stopped: Deferred[None] | None = super().stopService()
        return stopped


BotFactory = Callable[[IConnection], Bot]
