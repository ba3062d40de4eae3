"""Commands in (``[bus] commands = true``): a connection of the bot's own process that answers
``rosey.commands.cytube.<channel-token>.<action>`` requests (queue group ``rosey``).

Each request runs on Twisted (the reactor's loop is asyncio's) through
:class:`rosey.bus.commands.CommandHandler` and is answered with ``msg.respond`` once the
handler's Deferred fires. A request never holds up the next one: each waits in its own task,
so 200 requests wait in the bot's send queue, not here one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from functools import partial
from typing import Any

import nats.errors
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from rosey.bus.commands import channel_commands
from rosey.bus.nats_client import NatsClient
from rosey.bus.settings import BusSettings

log = Logger(namespace="rosey.bus")

#: What answers one channel's commands: ``handle(action, body)`` -> a Deferred of the reply
#: (:meth:`rosey.bus.commands.CommandHandler.handle`).
CommandHandle = Callable[[str, bytes], Deferred[bytes]]


class CommandServer(NatsClient):
    """Answers the commands of the channels given to :meth:`serve`."""

    role = "rosey-commands"

    def __init__(self, settings: BusSettings) -> None:
        super().__init__(settings)
        self._commands: dict[str, CommandHandle] = {}  # channel -> its command handler
        self._subscriptions: list[Any] = []
        self._replying: set[asyncio.Task[None]] = set()

    def serve(self, label: str, handle: CommandHandle) -> None:
        """Answer the commands of channel ``label`` with ``handle(action, body)`` (a Deferred
        of the reply). Call before :meth:`start`."""
        self._commands[label] = handle

    async def start(self) -> None:
        """Connect (retrying for ever) and subscribe every served channel's subjects."""
        await self.connect()
        for label, handle in self._commands.items():
            sub = await self._nc.subscribe(
                channel_commands(label), queue="rosey", cb=partial(self._on_command, handle)
            )
            self._subscriptions.append(sub)
        log.info("bus: serving commands of {n} channel(s)", n=len(self._commands))

    async def _on_command(self, handle: CommandHandle, msg: Any) -> None:
        # nats-py awaits this callback before it hands over the subscription's next message:
        # return at once and answer from a task.
        action = msg.subject.rpartition(".")[2]
        reply = handle(action, msg.data)
        task = asyncio.ensure_future(self._answer(msg, reply))
        self._replying.add(task)
        task.add_done_callback(self._replying.discard)

    async def _answer(self, msg: Any, reply: Deferred[bytes]) -> None:
        data = await reply.asFuture(asyncio.get_running_loop())
        if not msg.reply:
            return  # a plain publish, not a request: acted on, nobody to answer
        try:
            await msg.respond(data)
        except (TimeoutError, nats.errors.Error) as e:
            await self.on_error(e)  # the requester times out

    async def stop(self) -> None:
        """Stop taking requests; those still running get ``stop_timeout`` seconds to be
        answered (the channels stop first, so the bot's pending actions have failed)."""
        for sub in self._subscriptions:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()
        if self._replying:
            await asyncio.wait(set(self._replying), timeout=self.settings.stop_timeout)
        await self.close()
