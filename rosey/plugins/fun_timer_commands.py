"""The ``fun`` plugin's timer commands: ``!remindme``, ``!reminders`` and ``!countdown``.

- ``!remindme <duration> <text>``: a reminder for the caller (``30s``, ``10m``, ``2h``, ``1d``,
  ``1h30m``), at most ``max_reminder_days`` ahead and ``max_reminders_per_user`` pending.
- ``!reminders`` lists the caller's; ``!reminders cancel <id>`` drops one of them.
- ``!countdown`` lists the running countdowns; ``!countdown <name>`` shows the time left;
  ``!countdown <name> <when>`` starts one (``when``: a duration or a UTC time
  ``YYYY-MM-DD HH:MM``); ``!countdown <name> cancel`` stops one. Replacing or cancelling
  somebody else's countdown needs ``manage_rank``.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime

from rosey.api import Arg, ArgumentError, Command, CommandContext, Rest, command, rank_name
from rosey.plugins.fun_timedata import Countdown, countdown_name, parse_when, utc
from rosey.plugins.fun_timers import Timers
from rosey.plugins.support import (
    clean_text,
    human_duration,
    parse_duration,
    reply_safe,
    safe_replies,
)

__all__ = ["TimerCommands"]

UNAVAILABLE = "Sorry, my reminders are not available right now."
UNSAVED = " My records are unavailable right now, so a restart may lose it."
_CANCEL = ("cancel", "del", "delete", "stop")


class TimerCommands:
    """Declares the timer commands on top of :class:`~rosey.plugins.fun_timers.Timers`.
    ``max_length`` is the longest line the bot sends (long answers are split); every answer is
    sent through :func:`~rosey.plugins.fun_text.safe_replies`."""

    def __init__(self, timers: Timers, clock: IReactorTime, max_length: int) -> None:
        self.timers = timers
        self.rules = timers.rules
        self._clock = clock
        self._max_length = max_length

    def commands(self) -> list[Command]:
        """``remindme``, ``reminders`` and ``countdown``."""
        remindme = command(
            "remindme",
            args=[Arg("delay", parse_duration, metavar="duration"), Arg("text", Rest)],
            cooldown_user=3,
            help="Remind you later, e.g. remindme 1h30m stretch (by PM, or in chat).",
        )(safe_replies(self.remindme, self._max_length))
        reminders = command(
            "reminders",
            args=[Arg("cancel", default=None), Arg("id", default=None)],
            cooldown_user=3,
            help="List your reminders, or cancel one: reminders cancel <id>.",
        )(safe_replies(self.reminders, self._max_length))
        countdown = command(
            "countdown",
            args=[
                Arg("name", countdown_name, default=None),
                Arg("when", Rest, default=None, metavar="duration|YYYY-MM-DD HH:MM|cancel"),
            ],
            cooldown_user=3,
            help="countdown <name> <when>: start one (UTC times); countdown <name>: time left.",
        )(safe_replies(self.countdown, self._max_length))
        return [remindme, reminders, countdown]

    # -- reminders ------------------------------------------------------------------------------

    async def remindme(self, ctx: CommandContext) -> str:
        delay: float = ctx.args["delay"]
        text = clean_text(ctx.args["text"])
        rules = self.rules
        if not text:
            return f"Usage: {ctx.command.usage(ctx.prefix)}"
        if delay > rules.max_reminder_seconds:
            return f"At most {human_duration(rules.max_reminder_seconds)} ahead, please."
        if len(text) > rules.max_reminder_length:
            return f"That's {len(text):,} characters; a reminder takes {rules.max_reminder_length}."
        if not await self.timers.loader.ensure():
            return UNAVAILABLE
        mine = len(self.timers.reminders_of(ctx.user))
        if mine >= rules.max_reminders_per_user:
            return f"You have {mine} reminders waiting already; that's the limit."
        if len(self.timers.reminders) >= rules.max_reminders:
            return "I'm holding too many reminders right now; try again later."
        r, saved = await self.timers.add_reminder(ctx.user, delay, text)
        answer = f"OK, I'll remind you in {human_duration(delay)} (reminder #{r.id})."
        return answer + ("" if saved else UNSAVED)

    async def reminders(self, ctx: CommandContext) -> str | None:
        if not await self.timers.loader.ensure():
            return UNAVAILABLE
        mine = self.timers.reminders_of(ctx.user)
        action: str | None = ctx.args["cancel"]
        wanted: str | None = ctx.args["id"]
        if action is None:
            if not mine:
                return "You have no reminders waiting."
            now = self._clock.seconds()
            listed = "; ".join(
                f"#{r.id} in {human_duration(r.due - now)}: {r.text[:40]}" for r in mine
            )
            # by PM: what people set reminders about is their business
            await reply_safe(ctx, f"Your reminders: {listed}", self._max_length, private=True)
            return None
        if action.lower() not in _CANCEL or wanted is None:
            return f"Usage: {ctx.invocation} [cancel <id>]"
        digits = wanted.lstrip("#")
        rid = int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 9 else None
        found = next((r for r in mine if r.id == rid), None)
        if found is None:
            return f"You have no reminder #{wanted.lstrip('#')[:12]}."
        await self.timers.cancel_reminder(found)
        return f"Reminder #{found.id} cancelled."

    # -- countdowns -----------------------------------------------------------------------------

    def _may_manage(self, ctx: CommandContext, c: Countdown) -> bool:
        return ctx.rank >= self.rules.manage_rank or c.by.casefold() == ctx.user.casefold()

    async def countdown(self, ctx: CommandContext) -> str | None:
        if not await self.timers.loader.ensure():
            return UNAVAILABLE
        name: str | None = ctx.args["name"]
        when: str | None = ctx.args["when"]
        now = self._clock.seconds()
        if name is None:
            if not self.timers.countdowns:
                return f"No countdowns running. Start one: {ctx.invocation} <name> <when>"
            running = sorted(self.timers.countdowns.values(), key=lambda c: c.due)
            listed = ", ".join(f"{c.name} ({human_duration(c.due - now)})" for c in running)
            return f"Countdowns: {listed}."
        old = self.timers.countdowns.get(name.casefold())
        if when is None or when.strip().lower() in _CANCEL:
            if old is None:
                return f"No countdown called {name}."
            if when is None:
                left = human_duration(old.due - now) if old.due > now else "no time"
                return f"{old.name}: {left} left (until {utc(old.due)})."
            if not self._may_manage(ctx, old):
                who = rank_name(self.rules.manage_rank)
                return f"Sorry, only {old.by} or a {who} can cancel {old.name}."
            await self.timers.cancel_countdown(old)
            return f"Countdown {old.name} cancelled."
        return await self._start(ctx, name, when, old, now)

    async def _start(
        self, ctx: CommandContext, name: str, when: str, old: Countdown | None, now: float
    ) -> str:
        rules = self.rules
        try:
            due = parse_when(when, now)
        except ArgumentError as e:
            return f"Usage: {ctx.command.usage(ctx.prefix)} ({e})"
        if due <= now:
            return "That time has passed already."
        if due - now > rules.max_countdown_seconds:
            return f"At most {human_duration(rules.max_countdown_seconds)} ahead, please."
        if old is not None and not self._may_manage(ctx, old):
            return f"{old.name} belongs to {old.by}; pick another name."
        if old is None:
            running = self.timers.countdowns.values()
            if len(running) >= rules.max_countdowns:
                return f"{len(running)} countdowns are running already; that's the limit."
            user = ctx.user.casefold()
            mine = sum(1 for c in running if c.by.casefold() == user)
            if mine >= rules.max_countdowns_per_user:
                return f"You have {mine} countdowns running already; that's the limit."
        c, saved = await self.timers.set_countdown(name, due, ctx.user)
        answer = f"Countdown {c.name}: {human_duration(due - now)} left (until {utc(due)})."
        return answer + ("" if saved else UNSAVED)
