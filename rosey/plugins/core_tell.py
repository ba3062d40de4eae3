"""``!tell`` delivery: waiting messages handed over when their recipient joins or chats.

On ``user_join`` and on a live chat line from a user, the unsent messages for that user are
fetched and sent: by PM when the user is in the channel and the bot can PM (it is logged in),
else in chat as ``user: sender said: … (5 minutes ago)``. A message is marked sent once the
server confirmed it (its echo), or failed with its retry count; one that failed ``max_retries``
times is given up. One delivery per user runs at a time, and ids delivered but not yet marked
(storage down) are remembered, so no message goes out twice from one process. A crash between
the server's echo and the mark may repeat it once after a restart.

Nearly every join and chat line comes from a user with nothing waiting: storage answers that
from memory (:meth:`~rosey.storage.interface.IStorage.may_have_outbound`), so those cost no
query and no Deferred.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from rosey import events
from rosey.api import Event, OutboundMessage, StorageError
from rosey.plugins.support import TaskSet, ago, all_done, clean_text, safe_line, split_message

if TYPE_CHECKING:
    from rosey.api import IPluginAPI

__all__ = ["MAX_RETRIES", "TellDelivery"]

log = Logger()

#: Failed deliveries after which a message is given up.
MAX_RETRIES = 5

_USER_NAME = re.compile(r"[A-Za-z0-9_-]{1,20}")


class TellDelivery:
    """Delivers waiting ``!tell`` messages to a user who joins or chats (see the module docs).

    ``recheck_after``: after finding nothing for a user, don't ask storage again for that long
    (a ``!tell`` queued through :meth:`expect` ends the pause). ``retry_after``: after a failed
    delivery or a storage error, wait that long before trying that user again.
    """

    def __init__(
        self,
        api: IPluginAPI,
        *,
        max_retries: int = MAX_RETRIES,
        batch: int = 10,
        recheck_after: float = 300.0,
        retry_after: float = 60.0,
    ) -> None:
        self._api = api
        self.max_retries = max_retries
        self.batch = batch
        self.recheck_after = recheck_after
        self.retry_after = retry_after
        self._active = TaskSet()
        self._quiet_until: dict[str, float] = {}
        self._prune_at = 4096
        self._delivered: dict[int, None] = {}  # sent but not (yet) marked sent in storage
        #: Messages handed to the server and confirmed.
        self.sent = 0
        #: Failed delivery attempts.
        self.failed = 0

    def attach(self) -> None:
        """Watch the bot's ``user_join`` and ``message`` events."""
        self._api.on(events.USER_JOIN, self.on_event)
        self._api.on(events.MESSAGE, self.on_event)

    def detach(self) -> None:
        """Undo :meth:`attach`."""
        self._api.off(events.USER_JOIN, self.on_event)
        self._api.off(events.MESSAGE, self.on_event)

    def expect(self, recipient: str) -> None:
        """A message for ``recipient`` was just queued: look for it at their next event."""
        self._quiet_until.pop(recipient.casefold(), None)

    def on_event(self, event: Event) -> None:
        """Start a delivery for the user behind a join or a live chat line (never raises, never
        holds up the other handlers)."""
        user = event.user
        # First the check that nearly always ends it: storage knows, without I/O, that nothing
        # waits for this user.
        api = self._api
        if not user or not api.storage.may_have_outbound(api.storage_key, user):
            return
        if event.replayed or event.extra.get("malformed") or event.extra.get("server_whisper"):
            return
        if not _USER_NAME.fullmatch(user):
            return  # [server], [voteskip] and other pseudo-users
        if self._api.channel.is_me(user):
            return
        self.deliver(user)

    def deliver(self, user: str) -> Deferred[None] | None:
        """Deliver what waits for ``user`` now. None when a delivery for them is running already
        or they were checked recently; else a Deferred that fires (never fails) when done."""
        key = user.casefold()
        if key in self._active:
            return None
        if self._quiet_until.get(key, 0.0) > self._api.clock.seconds():
            return None
        d = Deferred.fromCoroutine(self._deliver(user, key))
        d.addErrback(lambda f: log.failure("!tell delivery to {user} crashed", f, user=user))
        self._active.track(key, d)
        return d

    def idle(self) -> Deferred[None]:
        """Fires once no delivery is running."""
        return self._active.idle()

    # -- internals ----------------------------------------------------------------------------

    def _channel(self) -> str:
        key: str = self._api.storage_key
        return key

    def _pause(self, key: str, seconds: float) -> None:
        now = self._api.clock.seconds()
        if len(self._quiet_until) > self._prune_at:
            self._quiet_until = {k: t for k, t in self._quiet_until.items() if t > now}
            # Prune again only once the dict has doubled: O(1) amortized per call even when
            # every entry is still live (more than 4096 users checked within recheck_after).
            self._prune_at = max(4096, 2 * len(self._quiet_until))
        self._quiet_until[key] = now + seconds

    async def _deliver(self, user: str, key: str) -> None:
        storage, channel = self._api.storage, self._channel()
        try:
            rows = await storage.get_unsent_outbound(
                channel, user, limit=self.batch, max_retries=self.max_retries
            )
        except StorageError as e:
            log.warn("!tell: cannot read messages for {user}: {error}", user=user, error=e)
            self._pause(key, self.retry_after)
            return
        if not rows:
            self._pause(key, self.recheck_after)
            return
        to = self._pm_target(user)
        sends: list[tuple[OutboundMessage, Deferred[None] | None]] = []
        for row in rows:
            if row.id in self._delivered:
                sends.append((row, None))  # delivered before; only the mark is missing
            else:
                sends.append((row, self._send(row, user, to)))
        failures = 0
        for row, sent in sends:
            if sent is not None:
                try:
                    await sent
                except Exception as e:
                    failures += 1
                    await self._failed(row, user, e)
                    continue
                self.sent += 1
                self._delivered[row.id] = None
            await self._mark_sent(row, user)
        if failures:
            self._pause(key, self.retry_after)
        elif len(rows) < self.batch:
            self._pause(key, self.recheck_after)

    def _pm_target(self, user: str) -> str | None:
        """The user's name as listed when the bot can PM them, else None (deliver in chat)."""
        channel = self._api.channel
        listed = channel.users.get(user)
        if listed is None or not channel.logged_in:
            return None
        name: str = listed.name
        return name

    def _send(self, row: OutboundMessage, user: str, pm_to: str | None) -> Deferred[None]:
        now = self._api.clock.seconds()
        said = f"{clean_text(row.message)} ({ago(now - row.created_at)})"
        text = f"{row.sender or 'someone'} said: {said}"
        if pm_to is None:
            text = f"{user}: {text}"
        prefix = self._api.prefix
        # Split here rather than in the queue so that continuation lines get checked too.
        limit = max(20, self._api.max_line_length - 2)
        lines = [safe_line(part, prefix) for part in split_message(text, limit)]
        if pm_to is None:
            return all_done([self._api.say(line) for line in lines])
        return all_done([self._api.pm(pm_to, line) for line in lines])

    async def _failed(self, row: OutboundMessage, user: str, error: Exception) -> None:
        self.failed += 1
        reason = f"{type(error).__name__}: {error}"[:200]
        try:
            count = await self._api.storage.mark_outbound_failed(self._channel(), row.id, reason)
        except StorageError as e:
            log.warn("!tell: cannot record failure of message {id}: {error}", id=row.id, error=e)
            return
        log.info(
            "!tell: message {id} for {user} not delivered ({reason}); failure {count} of {max}",
            id=row.id,
            user=user,
            reason=reason,
            count=count,
            max=self.max_retries,
        )

    async def _mark_sent(self, row: OutboundMessage, user: str) -> None:
        try:
            await self._api.storage.mark_outbound_sent(
                self._channel(), row.id, timestamp=self._api.clock.seconds()
            )
        except StorageError as e:
            log.warn(
                "!tell: message {id} was delivered to {user} but cannot be marked sent ({error});"
                " it will not be sent again while rosey runs",
                id=row.id,
                user=user,
                error=e,
            )
            if len(self._delivered) > 10_000:
                self._delivered.pop(next(iter(self._delivered)))
            return
        self._delivered.pop(row.id, None)


# -- commands -------------------------------------------------------------------------------------
