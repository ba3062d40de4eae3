"""Commands on top of storage: ``stats``, ``seen``, ``top``, ``peak`` and ``tell``.

:func:`install_stats` adds them to a :class:`~rosey.bot.service.Bot` together with a
:class:`TellDelivery`, which hands ``!tell`` messages over when their recipient joins or chats.
(The daemon's bots get them from the **core** plugin, :mod:`rosey.plugins.core`.)
Everything goes through the bot's :class:`~rosey.storage.interface.IStorage`; nothing here knows
SQL.

``!tell`` delivery. On ``user_join`` and on a live chat line from a user, the unsent messages for
that user are fetched and sent: by PM when the user is in the channel and the bot can PM (it is
logged in), else in chat as ``user: sender said: … (5 minutes ago)``. A message is marked sent
once the server confirmed it (its echo), or failed with its retry count; one that failed
``max_retries`` times is given up. One delivery per user runs at a time, and ids delivered but
not yet marked (storage down) are remembered, so no message goes out twice from one process.
A crash between the server's echo and the mark may repeat it once after a restart.

Hostile text. Whatever users typed is put on one line (control characters and newlines become
spaces) and no line the bot sends starts with ``/`` (a server command) or the command prefix,
including the continuation lines of a long message.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from rosey import events
from rosey.bot.commands import Arg, Command, CommandContext, Rest, UserName, command
from rosey.bot.sendqueue.lines import all_done
from rosey.bot.sendqueue.split import split_message
from rosey.bot.tasks import TaskSet
from rosey.events import Event
from rosey.storage.errors import StorageError
from rosey.storage.noop import NoopStorage
from rosey.storage.rows import OutboundMessage, UserStats

if TYPE_CHECKING:
    from rosey.bot.service import Bot

__all__ = [
    "TellDelivery",
    "ago",
    "clean_text",
    "human_duration",
    "install_stats",
    "safe_line",
    "stats_commands",
]

log = Logger()

#: Seconds between two uses of one of these commands by the same user.
COOLDOWN = 5.0
#: Longest ``!tell`` message, in characters.
MAX_TELL_LENGTH = 300
#: Unsent ``!tell`` messages one sender may have waiting.
MAX_PENDING_PER_SENDER = 5
#: Unsent ``!tell`` messages one recipient may have waiting (from everybody).
MAX_PENDING_PER_RECIPIENT = 20
#: Failed deliveries after which a message is given up.
MAX_RETRIES = 5
#: How many chatters ``!top`` lists.
TOP_COUNT = 5

_KV_NAMESPACE = "tell"
_USER_NAME = re.compile(r"[A-Za-z0-9_-]{1,20}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_UNITS = (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


# -- text helpers ---------------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """The two largest units: ``3725`` → ``1 hour 2 minutes``, ``90`` → ``1 minute 30 seconds``."""
    total = max(0, int(seconds))
    parts: list[str] = []
    for unit, size in _UNITS:
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count:,} {unit}{'' if count == 1 else 's'}")
        elif parts:
            break  # "1 hour 5 seconds" reads oddly: stop at the first gap
        if len(parts) == 2:
            break
    return " ".join(parts) or "0 seconds"


def ago(seconds: float) -> str:
    """``3725`` → ``1 hour 2 minutes ago``; under a second (or in the future): ``just now``."""
    return "just now" if seconds < 1 else f"{human_duration(seconds)} ago"


def clean_text(text: str) -> str:
    """``text`` on one line: control characters and line breaks become spaces, runs of
    whitespace one space, and the ends are stripped."""
    return " ".join(_CONTROL.sub(" ", text).split())


def safe_line(text: str, prefix: str) -> str:
    """``text``, led by a harmless mark if it would start with ``/`` (a CyTube chat command) or
    with the bot's command ``prefix``."""
    text = text.lstrip()
    if not (text.startswith("/") or text.startswith(prefix)):
        return text
    for lead in ("» ", "· ", "~ "):
        if not (lead + text).startswith(prefix):
            return lead + text
    return "» " + text  # unreachable: a prefix cannot start with three different characters


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


# -- !tell delivery -------------------------------------------------------------------------------


class TellDelivery:
    """Delivers waiting ``!tell`` messages to a user who joins or chats (see the module docs).

    ``recheck_after``: after finding nothing for a user, don't ask storage again for that long
    (a ``!tell`` queued through :meth:`expect` ends the pause). ``retry_after``: after a failed
    delivery or a storage error, wait that long before trying that user again.
    """

    def __init__(
        self,
        bot: Bot,
        *,
        max_retries: int = MAX_RETRIES,
        batch: int = 10,
        recheck_after: float = 300.0,
        retry_after: float = 60.0,
    ) -> None:
        self._bot = bot
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
        self._bot.on(events.USER_JOIN, self.on_event)
        self._bot.on(events.MESSAGE, self.on_event)

    def detach(self) -> None:
        """Undo :meth:`attach`."""
        self._bot.off(events.USER_JOIN, self.on_event)
        self._bot.off(events.MESSAGE, self.on_event)

    def expect(self, recipient: str) -> None:
        """A message for ``recipient`` was just queued: look for it at their next event."""
        self._quiet_until.pop(recipient.casefold(), None)

    def on_event(self, event: Event) -> None:
        """Start a delivery for the user behind a join or a live chat line (never raises, never
        holds up the other handlers)."""
        if event.replayed or event.extra.get("malformed") or event.extra.get("server_whisper"):
            return
        user = event.user
        if not user or not _USER_NAME.fullmatch(user):
            return  # [server], [voteskip] and other pseudo-users
        own = self._own_name()
        if own is not None and user.casefold() == own.casefold():
            return
        self.deliver(user)

    def deliver(self, user: str) -> Deferred[None] | None:
        """Deliver what waits for ``user`` now. None when a delivery for them is running already
        or they were checked recently; else a Deferred that fires (never fails) when done."""
        key = user.casefold()
        if key in self._active:
            return None
        if self._quiet_until.get(key, 0.0) > self._bot.clock.seconds():
            return None
        d = Deferred.fromCoroutine(self._deliver(user, key))
        d.addErrback(lambda f: log.failure("!tell delivery to {user} crashed", f, user=user))
        self._active.track(key, d)
        return d

    def idle(self) -> Deferred[None]:
        """Fires once no delivery is running."""
        return self._active.idle()

    # -- internals ----------------------------------------------------------------------------

    def _own_name(self) -> str | None:
        return self._bot.mirror.name or self._bot.connection.username

    def _channel(self) -> str:
        return self._bot.storage_key

    def _pause(self, key: str, seconds: float) -> None:
        now = self._bot.clock.seconds()
        if len(self._quiet_until) > self._prune_at:
            self._quiet_until = {k: t for k, t in self._quiet_until.items() if t > now}
            # Prune again only once the dict has doubled: O(1) amortized per call even when
            # every entry is still live (more than 4096 users checked within recheck_after).
            self._prune_at = max(4096, 2 * len(self._quiet_until))
        self._quiet_until[key] = now + seconds

    async def _deliver(self, user: str, key: str) -> None:
        storage, channel = self._bot.storage, self._channel()
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
        mirror = self._bot.mirror
        listed = mirror.users.get(user)
        if listed is None or not mirror.logged_in:
            return None
        return listed.name

    def _send(self, row: OutboundMessage, user: str, pm_to: str | None) -> Deferred[None]:
        now = self._bot.clock.seconds()
        said = f"{clean_text(row.message)} ({ago(now - row.created_at)})"
        text = f"{row.sender or 'someone'} said: {said}"
        if pm_to is None:
            text = f"{user}: {text}"
        prefix = self._bot.router.prefix
        # Split here rather than in the queue so that continuation lines get checked too.
        limit = max(20, self._bot.queue.max_length - 2)
        lines = [safe_line(part, prefix) for part in split_message(text, limit)]
        if pm_to is None:
            return all_done([self._bot.say(line) for line in lines])
        return all_done([self._bot.pm(pm_to, line) for line in lines])

    async def _failed(self, row: OutboundMessage, user: str, error: Exception) -> None:
        self.failed += 1
        reason = f"{type(error).__name__}: {error}"[:200]
        try:
            count = await self._bot.storage.mark_outbound_failed(self._channel(), row.id, reason)
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
            await self._bot.storage.mark_outbound_sent(
                self._channel(), row.id, timestamp=self._bot.clock.seconds()
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


def _parse_pending(raw: str | None) -> list[tuple[int, str]]:
    """The ``[[id, recipient], …]`` list kept per sender; garbage reads as empty."""
    try:
        value = json.loads(raw) if raw else []
    except ValueError:
        return []
    if not isinstance(value, list):
        return []
    return [
        (int(e[0]), str(e[1]))
        for e in value
        if isinstance(e, list) and len(e) == 2 and isinstance(e[0], int) and isinstance(e[1], str)
    ]


def stats_commands(bot: Bot, tells: TellDelivery) -> list[Command]:
    """The commands ``stats``, ``seen``, ``top``, ``peak`` and ``tell`` for ``bot``."""
    telling: set[str] = set()  # senders whose !tell is being stored

    def channel() -> str:
        return bot.storage_key

    def own_name() -> str | None:
        return bot.mirror.name or bot.connection.username

    def is_me(name: str) -> bool:
        own = own_name()
        return own is not None and own.casefold() == name.casefold()

    def now() -> float:
        return bot.clock.seconds()

    def here(name: str) -> str | None:
        user = bot.mirror.users.get(name)
        return None if user is None else user.name

    def reply(ctx: CommandContext, text: str) -> str:
        return safe_line(text, ctx.prefix)

    def unavailable(ctx: CommandContext, error: StorageError) -> str:
        log.warn("{cmd}: storage unavailable: {error}", cmd=ctx.invocation, error=error)
        return "Sorry, my records are not available right now."

    def connected_for(stats: UserStats, present: bool) -> float:
        total = stats.total_time_connected
        if present and stats.current_session_start is not None:
            total += max(0.0, now() - stats.current_session_start)
        return total

    @command(
        "stats",
        args=[Arg("user", UserName, default=None)],
        cooldown_user=COOLDOWN,
        help="Chat lines, time connected, first and last seen: yours, or a user's.",
    )
    async def stats_cmd(ctx: CommandContext) -> str:
        asked: str | None = ctx.args["user"]
        name = asked or ctx.user
        try:
            stats = await bot.storage.get_user_stats(channel(), name)
        except StorageError as e:
            return unavailable(ctx, e)
        if stats is None:
            who = "you" if asked is None or asked.casefold() == ctx.user.casefold() else name
            return reply(ctx, f"I have no stats for {who} yet.")
        listed = here(stats.username)
        parts = [
            _count(stats.total_chat_lines, "chat line"),
            f"connected {human_duration(connected_for(stats, listed is not None))}",
        ]
        if stats.first_seen is not None:
            parts.append(f"first seen {ago(now() - stats.first_seen)}")
        if listed is not None:
            parts.append("here now")
        elif stats.last_seen is not None:
            parts.append(f"last seen {ago(now() - stats.last_seen)}")
        return reply(ctx, f"{stats.username}: {', '.join(parts)}.")

    @command(
        "seen",
        args=[Arg("user", UserName)],
        cooldown_user=COOLDOWN,
        help="When a user was last here.",
    )
    async def seen_cmd(ctx: CommandContext) -> str:
        name: str = ctx.args["user"]
        if is_me(name):
            return "I'm right here."
        listed = here(name)
        if listed is not None:
            return reply(ctx, f"{listed} is here now.")
        try:
            stats = await bot.storage.get_user_stats(channel(), name)
        except StorageError as e:
            return unavailable(ctx, e)
        if stats is None or (stats.last_seen is None and stats.first_seen is None):
            return f"I've never seen {name}."
        when = stats.last_seen if stats.last_seen is not None else stats.first_seen
        assert when is not None
        return reply(ctx, f"{stats.username} was last seen {ago(now() - when)}.")

    @command("top", cooldown_user=COOLDOWN, help=f"The {TOP_COUNT} most talkative users.")
    async def top_cmd(ctx: CommandContext) -> str:
        try:
            rows = await bot.storage.get_top_chatters(channel(), limit=TOP_COUNT + 1)
        except StorageError as e:
            return unavailable(ctx, e)
        rows = [r for r in rows if r.total_chat_lines > 0 and not is_me(r.username)]
        if not rows:
            return "Nobody has said anything yet."
        ranked = ", ".join(
            f"{i}. {r.username} ({r.total_chat_lines:,})" for i, r in enumerate(rows[:TOP_COUNT], 1)
        )
        return f"Top chatters: {ranked}"

    @command("peak", cooldown_user=COOLDOWN, help="The most users the channel has had.")
    async def peak_cmd(ctx: CommandContext) -> str:
        try:
            marks = await bot.storage.get_channel_stats(channel())
        except StorageError as e:
            return unavailable(ctx, e)
        parts = []
        if marks.max_users:
            when = marks.max_users_timestamp
            at = f" ({ago(now() - when)})" if when is not None else ""
            parts.append(f"{_count(marks.max_users, 'user')} in chat{at}")
        if marks.max_connected:
            when = marks.max_connected_timestamp
            at = f" ({ago(now() - when)})" if when is not None else ""
            parts.append(f"{marks.max_connected:,} connected{at}")
        if not parts:
            return "No peak recorded yet."
        return f"Peak: {'; '.join(parts)}."

    async def pending_from(sender: str) -> list[tuple[int, str]]:
        """The sender's messages still waiting (kept per sender in the plugin store; what was
        delivered or given up is dropped by asking for each recipient's unsent messages)."""
        entries = _parse_pending(await bot.storage.kv_get(channel(), _KV_NAMESPACE, sender))
        waiting: set[int] = set()
        for recipient in {r.casefold(): r for _, r in entries}.values():
            rows = await bot.storage.get_unsent_outbound(
                channel(), recipient, limit=1000, max_retries=tells.max_retries
            )
            waiting.update(row.id for row in rows)
        return [e for e in entries if e[0] in waiting]

    @command(
        "tell",
        args=[Arg("user", UserName), Arg("message", Rest)],
        min_rank=0,
        cooldown_user=COOLDOWN,
        help=f"Leave a message (at most {MAX_TELL_LENGTH} characters) for a user's next visit.",
    )
    async def tell_cmd(ctx: CommandContext) -> str:
        recipient: str = ctx.args["user"]
        message = clean_text(ctx.args["message"])
        if is_me(recipient):
            return "I'm right here: just say it."
        if recipient.casefold() == ctx.user.casefold():
            return "You can tell yourself that."
        if not message:
            return f"Usage: {ctx.command.usage(ctx.prefix)}"
        if len(message) > MAX_TELL_LENGTH:
            return f"That's {len(message):,} characters; {ctx.invocation} takes {MAX_TELL_LENGTH}."
        if isinstance(bot.storage, NoopStorage):
            return "I have no database here, so I can't keep messages."
        sender_key = ctx.user.casefold()
        if sender_key in telling:
            return "One message at a time, please."
        telling.add(sender_key)
        try:
            return await store_tell(ctx, recipient, message)
        except StorageError as e:
            return unavailable(ctx, e)
        finally:
            telling.discard(sender_key)

    async def store_tell(ctx: CommandContext, recipient: str, message: str) -> str:
        storage, sender_key = bot.storage, ctx.user.casefold()
        listed = here(recipient)
        if listed is None:
            known = await storage.get_user_stats(channel(), recipient)
            listed = known.username if known is not None else None
        recipient = listed or recipient
        waiting = await storage.get_unsent_outbound(
            channel(), recipient, limit=MAX_PENDING_PER_RECIPIENT, max_retries=tells.max_retries
        )
        if len(waiting) >= MAX_PENDING_PER_RECIPIENT:
            return f"{recipient} already has {len(waiting)} messages waiting."
        pending = await pending_from(sender_key)
        if len(pending) >= MAX_PENDING_PER_SENDER:
            return (
                f"You already have {len(pending)} messages waiting to be delivered "
                f"(at most {MAX_PENDING_PER_SENDER})."
            )
        message_id = await storage.enqueue_outbound(
            channel(), recipient, message, sender=ctx.user, timestamp=now()
        )
        pending.append((message_id, recipient))
        await storage.kv_set(channel(), _KV_NAMESPACE, sender_key, json.dumps(pending))
        tells.expect(recipient)
        return reply(ctx, f"I'll tell {recipient} when they're next here.")

    return [stats_cmd, seen_cmd, top_cmd, peak_cmd, tell_cmd]


def install_stats(bot: Bot, **delivery_options: Any) -> None:
    """Add ``stats``, ``seen``, ``top``, ``peak`` and ``tell`` to ``bot`` and start delivering
    ``!tell`` messages (``delivery_options`` go to :class:`TellDelivery`)."""
    tells = TellDelivery(bot, **delivery_options)
    bot.add_command(*stats_commands(bot, tells))
    tells.attach()
