"""The moderation plugin's commands: ``!timeout``, ``!tempban``, ``!ban``, ``!unban``,
``!bans`` and ``!modlog`` (rank 2 or more; the caller must outrank the target)."""

from __future__ import annotations

import json
from typing import Any, Protocol

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from rosey.api import Arg, Command, CommandContext, Rest, UserName, command
from rosey.plugins.moderation_config import ModerationConfig
from rosey.plugins.moderation_store import SanctionStore
from rosey.plugins.support import clean_text, human_duration, parse_duration, safe_line

__all__ = ["MOD_RANK", "ModerationCommands", "Moderator"]


class Moderator(Protocol):
    """What the commands use of the moderation plugin (it imports this module, so the commands
    name the plugin by this protocol rather than import it back)."""

    api: Any
    config: ModerationConfig
    store: SanctionStore

    @property
    def now(self) -> float: ...
    def me(self) -> str: ...
    def rank_of(self, name: str) -> float | None: ...
    def timed_mute(
        self, name: str, seconds: float, why: str, by: str, by_rank: float
    ) -> Deferred[None]: ...
    def ban(
        self, name: str, seconds: float | None, why: str, by: str, by_rank: float
    ) -> Deferred[None]: ...
    def lift(self, kind: str, name: str, by: str, why: str) -> Deferred[bool]: ...


MOD_RANK = 2
_REASON = 120


class ModerationCommands:
    """The commands of one :class:`~rosey.plugins.moderation.Moderation` instance."""

    def __init__(self, plugin: Moderator) -> None:
        self.p = plugin

    def _check_target(self, ctx: CommandContext, name: str) -> str | None:
        """Why ``ctx.user`` may not act on ``name``, or None."""
        if name.casefold() in (self.p.me().casefold(), ctx.user.casefold()):
            return "You can't do that to me or to yourself."
        rank = self.p.rank_of(name)
        if rank is not None and rank >= ctx.rank:
            return f"You don't outrank {name}."
        return None

    def _reason(self, ctx: CommandContext) -> str:
        return clean_text(ctx.args.get("reason") or "")[:_REASON] or f"by {ctx.user}"

    def _duration(self, ctx: CommandContext, max_days: float) -> float:
        seconds = parse_duration(ctx.args["duration"])
        return min(seconds, max_days * 86400)

    @staticmethod
    def _why_failed(f: Failure) -> str:
        return clean_text(str(f.value))[:150]

    def declare(self) -> list[Command]:
        """The commands, to register with ``add_command``."""
        user_arg = Arg("user", UserName)
        reason_arg = Arg("reason", Rest, default="")
        duration_arg = Arg("duration", metavar="10m|2h|1d")

        @command(
            "timeout",
            min_rank=MOD_RANK,
            args=[user_arg, duration_arg, reason_arg],
            help="Mute a user for a while: timeout alice 10m [reason].",
        )
        def timeout(ctx: CommandContext) -> Deferred[str] | str:
            name = ctx.args["user"]
            refusal = self._check_target(ctx, name)
            if refusal is not None:
                return refusal
            if self.p.api.channel.users.get(name) is None:
                return f"{name} is not here."
            seconds = self._duration(ctx, self.p.config.max_timeout_days)
            d = self.p.timed_mute(name, seconds, self._reason(ctx), ctx.user, ctx.rank)
            return d.addCallbacks(
                lambda _: f"{name} is muted for {human_duration(seconds)}.",
                lambda f: f"Could not mute {name}: {self._why_failed(f)}",
            )

        def _ban(ctx: CommandContext, seconds: float | None) -> Deferred[str] | str:
            name = ctx.args["user"]
            refusal = self._check_target(ctx, name)
            if refusal is not None:
                return refusal
            d = self.p.ban(name, seconds, self._reason(ctx), ctx.user, ctx.rank)
            span = "until unbanned" if seconds is None else f"for {human_duration(seconds)}"
            return d.addCallbacks(
                lambda _: f"{name} is banned {span}.",
                lambda f: (
                    f"{name} is on my ban list {span}, but the server refused: "
                    f"{self._why_failed(f)}"
                ),
            )

        @command(
            "tempban",
            min_rank=MOD_RANK,
            args=[user_arg, duration_arg, reason_arg],
            help="Ban a user for a while: tempban alice 1d [reason].",
        )
        def tempban(ctx: CommandContext) -> Deferred[str] | str:
            return _ban(ctx, self._duration(ctx, self.p.config.max_tempban_days))

        @command(
            "ban",
            min_rank=MOD_RANK,
            args=[user_arg, reason_arg],
            help="Ban a user until unbanned; enforced when they join.",
        )
        def ban(ctx: CommandContext) -> Deferred[str] | str:
            return _ban(ctx, None)

        @command("unban", min_rank=MOD_RANK, args=[user_arg], help="Lift a ban.")
        def unban(ctx: CommandContext) -> Deferred[str]:
            name = ctx.args["user"]
            return self.p.lift("bans", name, ctx.user, f"by {ctx.user}").addCallback(
                lambda ok: f"{name} is unbanned." if ok else f"Could not unban {name} now."
            )

        @command("bans", min_rank=MOD_RANK, help="List the bans and timed mutes I keep.")
        def bans(ctx: CommandContext) -> str:
            parts = []
            for kind, label in (("bans", "ban"), ("mutes", "mute")):
                for s in sorted(self.p.store.items[kind].values(), key=lambda s: s.name.casefold()):
                    left = (
                        "permanent"
                        if s.until is None
                        else human_duration(max(0, s.until - self.p.now))
                    )
                    parts.append(f"{s.name} ({label}, {left})")
            return safe_line("Bans: " + ", ".join(parts), ctx.prefix) if parts else "No bans."

        @command(
            "modlog",
            min_rank=MOD_RANK,
            args=[Arg("user", UserName, default=None)],
            help="The last moderation actions, for one user or all.",
        )
        async def modlog(ctx: CommandContext) -> str:
            who = ctx.args["user"]
            rows = await self.p.api.storage.get_user_actions(self.p.api.storage_key, who, None, 200)
            rows = [r for r in rows if r.action_type.startswith("mod_")][:5]
            if not rows:
                return "No moderation actions logged."
            parts = []
            for r in rows:
                try:
                    d = json.loads(r.details or "{}")
                except ValueError:
                    d = {}
                by, why = d.get("by", "?"), d.get("why", "")
                ago = human_duration(max(0, self.p.now - r.timestamp))
                parts.append(f"{r.action_type[4:]} {r.username} by {by} ({why}) {ago} ago")
            return safe_line("; ".join(parts), ctx.prefix)

        return [timeout, tempban, ban, unban, bans, modlog]
