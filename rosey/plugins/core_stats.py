"""Commands on top of storage: ``stats``, ``seen``, ``top``, ``peak`` and ``tell``.

Part of the **core** plugin (:mod:`rosey.plugins.core`). :func:`install_stats` adds them
through a plugin's :class:`~rosey.api.IPluginAPI` together with a :class:`TellDelivery`, which
hands ``!tell`` messages over when their recipient joins or chats. Everything goes through the
channel's storage (``api.storage``); nothing here knows SQL.

``!tell`` delivery lives in :mod:`rosey.plugins.core_tell`; the text helpers in
:mod:`rosey.plugins.support`.

Hostile text. Whatever users typed is put on one line (control characters and newlines become
spaces) and no line the bot sends starts with ``/`` (a server command) or the command prefix,
including the continuation lines of a long message.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from rosey.api import Arg, Command, CommandContext, Rest, StorageError, UserName, UserStats, command
from rosey.plugins.core_tell import TellDelivery
from rosey.plugins.support import ago, clean_text, count_of, human_duration, safe_line

if TYPE_CHECKING:
    from rosey.api import IPluginAPI

__all__ = ["install_stats", "stats_commands"]

log = Logger()

#: Seconds between two uses of one of these commands by the same user.
COOLDOWN = 5.0
#: Longest ``!tell`` message, in characters.
MAX_TELL_LENGTH = 300
#: Unsent ``!tell`` messages one sender may have waiting.
MAX_PENDING_PER_SENDER = 5
#: Unsent ``!tell`` messages one recipient may have waiting (from everybody).
MAX_PENDING_PER_RECIPIENT = 20
#: How many chatters ``!top`` lists.
TOP_COUNT = 5

_KV_NAMESPACE = "tell"


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


def stats_commands(api: IPluginAPI, tells: TellDelivery) -> list[Command]:
    """The commands ``stats``, ``seen``, ``top``, ``peak`` and ``tell`` through ``api``."""
    telling: set[str] = set()  # senders whose !tell is being stored

    def channel() -> str:
        key: str = api.storage_key
        return key

    def is_me(name: str) -> bool:
        return bool(api.channel.is_me(name))

    def now() -> float:
        seconds: float = api.clock.seconds()
        return seconds

    def here(name: str) -> str | None:
        user = api.channel.users.get(name)
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
            stats = await api.storage.get_user_stats(channel(), name)
        except StorageError as e:
            return unavailable(ctx, e)
        if stats is None:
            who = "you" if asked is None or asked.casefold() == ctx.user.casefold() else name
            return reply(ctx, f"I have no stats for {who} yet.")
        listed = here(stats.username)
        parts = [
            count_of(stats.total_chat_lines, "chat line"),
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
            stats = await api.storage.get_user_stats(channel(), name)
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
            rows = await api.storage.get_top_chatters(channel(), limit=TOP_COUNT + 1)
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
            marks = await api.storage.get_channel_stats(channel())
        except StorageError as e:
            return unavailable(ctx, e)
        parts = []
        if marks.max_users:
            when = marks.max_users_timestamp
            at = f" ({ago(now() - when)})" if when is not None else ""
            parts.append(f"{count_of(marks.max_users, 'user')} in chat{at}")
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
        entries = _parse_pending(await api.storage.kv_get(channel(), _KV_NAMESPACE, sender))
        waiting: set[int] = set()
        for recipient in {r.casefold(): r for _, r in entries}.values():
            rows = await api.storage.get_unsent_outbound(
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
        if not api.persistent:
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
        storage, sender_key = api.storage, ctx.user.casefold()
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


def install_stats(api: IPluginAPI, **delivery_options: Any) -> None:
    """Add ``stats``, ``seen``, ``top``, ``peak`` and ``tell`` through ``api`` and start delivering
    ``!tell`` messages (``delivery_options`` go to :class:`TellDelivery`)."""
    tells = TellDelivery(api, **delivery_options)
    api.add_command(*stats_commands(api, tells))
    tells.attach()
