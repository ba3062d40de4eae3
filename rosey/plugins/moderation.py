"""The **moderation** plugin: spam and flood defence, word filters, timed mutes and bans.

- Each chat line of a user below ``exempt_rank`` is checked by
  :class:`~rosey.plugins.moderation_spam.SpamDetector` (flood, repeats, links, caps, mass
  mentions) and the word filters. A spam hit is a strike; the n-th live strike runs step n of
  ``ladder`` (the last step repeats); strikes decay after ``strike_decay`` seconds. A word filter
  runs its own action. The bot only ever acts on the speaker, never on the bot itself or on users
  of ``exempt_rank`` or more; an action the bot lacks the rank for is logged once and skipped.
- ``!timeout user 10m [reason]`` (timed mute), ``!tempban user 1d [reason]``,
  ``!ban user [reason]``, ``!unban user``, ``!bans``, ``!modlog [user]``: rank 2 or more, and
  the caller must outrank the target. Bans and timed mutes persist in ``kv`` and survive
  restarts; a banned name is banned again (or kicked) when it joins, a ban made while the user
  was offline included; expired ones are lifted with ``api.actions.unban``/``unmute``.
- Every action goes to the audit log (``IStorage.log_user_action``, type ``mod_<action>``,
  details JSON ``{by, why, until}``).

Config (``[plugins.moderation]``, every key optional; 0 turns a spam rule off)::

    window = 10             # seconds the flood, repeat and link rules look back
    max_messages = 6        # messages per window (one more is flooding)
    max_repeats = 3         # the same text per window
    max_links = 3           # links per window
    caps_ratio = 0.8        # share of capitals in a line of at least
    caps_min_letters = 12   #   this many letters
    max_mentions = 5        # distinct present users named in one line
    ladder = ["warn", "mute", "kick", "ban"]
    strike_decay = 600      # seconds a strike counts
    mute_seconds = 300      # a ladder/filter mute
    ban_seconds = 86400     # a ladder ban (0: until !unban)
    exempt_rank = 2         # never act on this rank or more
    shadow_mute = false     # /smute instead of /mute (the bot keeps seeing the lines, so the
                            # ladder can go on past a mute; a /mute silences them for the bot too)
    filter_warn = []        # words (whole, any case) that warn
    filter_mute = []        #   that mute for mute_seconds
    filter_kick = []        #   that kick
    max_timeout_days = 30   # longest !timeout
    max_tempban_days = 3660 # longest !tempban

Details: :mod:`rosey.plugins.moderation_config`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.python.failure import Failure

from rosey import events
from rosey.api import ActionFailed, TargetNotFound
from rosey.errors import ChannelPermissionError
from rosey.events import Event
from rosey.plugin import Plugin, PluginFactory
from rosey.plugins.moderation_commands import ModerationCommands
from rosey.plugins.moderation_config import ModerationConfig, parse
from rosey.plugins.moderation_spam import SpamDetector, Strikes
from rosey.plugins.moderation_store import Sanction, SanctionStore
from rosey.plugins.support import safe_line

if TYPE_CHECKING:
    from rosey.api import IPluginAPI

__all__ = ["Moderation", "ModerationConfig", "moderation", "parse"]


def _details(by: str, why: str, until: float | None) -> str:
    return json.dumps({"by": by, "why": why, "until": until}, separators=(",", ":"))


class Moderation(Plugin):
    """The moderation plugin for one channel's bot."""

    config: ModerationConfig

    def __init__(self, api: IPluginAPI) -> None:
        super().__init__(api)
        if self.config is None:
            self.config = ModerationConfig()
        self.spam = SpamDetector(self.config.spam)
        self.strikes = Strikes(self.config.strike_decay)
        self.store = SanctionStore(self.kv, api.clock)
        self._timers: dict[tuple[str, str], IDelayedCall] = {}
        self._refused: set[str] = set()
        self._busy: set[Deferred[Any]] = set()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Register handlers and commands, load the sanctions and schedule their expiry."""
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        self.on(events.MESSAGE, self.on_message)
        self.on(events.USER_JOIN, self.on_join)
        self.on(events.READY, self.on_ready)
        self.add_command(*ModerationCommands(self).declare())
        await self.store.loader.ensure()
        for kind in ("bans", "mutes"):
            for s in list(self.store.items[kind].values()):
                self._schedule(kind, s)

    def stop(self) -> Deferred[None]:
        """Unregister, cancel the expiry timers and write out what is unsaved."""
        super().stop()
        for call in self._timers.values():
            if call.active():
                call.cancel()
        self._timers.clear()
        return self.store.writer.close()

    def idle(self) -> Deferred[None]:
        """Fires once no action started by the plugin is pending and nothing is being written."""
        pending = list(self._busy)
        d = DeferredList(pending) if pending else succeed(None)
        return d.addCallback(lambda _: self.store.writer.idle())

    # -- helpers --------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        seconds: float = self.api.clock.seconds()
        return seconds

    def me(self) -> str:
        """The bot's name."""
        name: str = self.api.channel.own_name
        return name

    def rank_of(self, name: str) -> float | None:
        """``name``'s rank, None when not in the channel."""
        user = self.api.channel.users.get(name)
        return None if user is None else user.rank

    def _track(self, d: Deferred[Any]) -> Deferred[Any]:
        self._busy.add(d)

        def done(result: Any) -> Any:
            self._busy.discard(d)
            return result

        return d.addBoth(done)

    def audit(
        self, target: str, action: str, by: str, why: str, until: float | None = None
    ) -> None:
        """Log one moderation action (never fails; a storage error is logged)."""
        d = self.api.storage.log_user_action(
            self.api.storage_key, target, f"mod_{action}", _details(by, why, until), self.now
        )
        d.addErrback(lambda f: self.log.warn("moderation: audit log failed: {e}", e=f.value))
        self._track(d)

    def _refusal(self, step: str, failure: Failure) -> None:
        if failure.check(ChannelPermissionError):
            if step not in self._refused:
                self._refused.add(step)
                self.log.warn("moderation: cannot {step}: {e}", step=step, e=failure.value)
            return
        self.log.warn("moderation: {step} failed: {e}", step=step, e=failure.value)

    # -- automatic moderation -------------------------------------------------------------------

    def _exempt(self, name: str) -> bool:
        if name.casefold() == self.me().casefold() or name.startswith("["):
            return True
        rank = self.rank_of(name)
        return rank is not None and rank >= self.config.exempt_rank

    def on_message(self, event: Event) -> None:
        """Check a live chat line for filtered words and spam; act on its speaker only."""
        name, text = event.user, event.content
        if event.replayed or not name or text is None or self._exempt(name):
            return
        for f in self.config.filters:
            if f.pattern.search(text):
                self.spam.forget(name)
                self.sanction(f.action, name, "used a filtered word", by=self.me())
                return
        reason = self.spam.check(name, text, self.now, self.api.channel.users.names)
        self.spam.expire(self.now)
        if reason is None:
            return
        self.spam.forget(name)
        strikes = self.strikes.add(name, self.now)
        ladder = self.config.ladder
        self.sanction(ladder[min(strikes, len(ladder)) - 1], name, reason, by=self.me())

    def sanction(self, step: str, name: str, why: str, *, by: str) -> None:
        """Run ladder/filter ``step`` on ``name`` (the exemption is checked again)."""
        if self._exempt(name):
            return
        if step == "warn":
            d = self.api.say(safe_line(f"{name}: please stop ({why}).", self.api.prefix))
            d.addCallback(lambda _: self.audit(name, "warn", by, why))
        elif step == "mute":
            d = self.timed_mute(name, self.config.mute_seconds, why, by, self.config.exempt_rank)
        elif step == "kick":
            d = self.api.actions.kick(name, why)
            d.addCallback(lambda _: self.audit(name, "kick", by, why))
        else:
            seconds = self.config.ban_seconds or None
            d = self.ban(name, seconds, why, by, self.config.exempt_rank)
        self._track(d.addErrback(lambda f: self._refusal(step, f)))

    # -- sanctions ------------------------------------------------------------------------------

    def timed_mute(
        self, name: str, seconds: float, why: str, by: str, by_rank: float
    ) -> Deferred[None]:
        """Mute ``name`` for ``seconds`` (recorded, audited, unmuted on expiry)."""
        user = self.api.channel.users.get(name)
        shown = user.name if user is not None else name

        def muted(_: None) -> None:
            s = Sanction(shown, self.now + seconds, why, by, by_rank, self.now)
            self.store.put("mutes", s)
            self._schedule("mutes", s)
            self.audit(shown, "mute", by, why, s.until)

        mute = self.api.actions.smute if self.config.shadow_mute else self.api.actions.mute
        done: Deferred[None] = mute(name).addCallback(muted)
        return done

    def ban(
        self, name: str, seconds: float | None, why: str, by: str, by_rank: float
    ) -> Deferred[None]:
        """Ban ``name`` (for ``seconds``, or until lifted); the entry is kept even when the server
        already has the name banned, and re-applied when the name joins."""
        s = Sanction(
            name, None if seconds is None else self.now + seconds, why, by, by_rank, self.now
        )
        self.store.put("bans", s)
        self._schedule("bans", s)
        self.audit(name, "ban", by, why, s.until)

        def already(f: Failure) -> None:
            f.trap(ActionFailed)
            if "already banned" not in str(f.value):
                f.raiseException()

        banned: Deferred[None] = self.api.actions.ban(name, why).addErrback(already)
        return banned

    def _schedule(self, kind: str, s: Sanction) -> None:
        key = (kind, s.name.casefold())
        old = self._timers.pop(key, None)
        if old is not None and old.active():
            old.cancel()
        if s.until is not None:
            delay = max(0.0, s.until - self.now)
            self._timers[key] = self.api.clock.callLater(delay, self._expire, kind, s.name)

    def _expire(self, kind: str, name: str) -> None:
        self._timers.pop((kind, name.casefold()), None)
        self._track(self.lift(kind, name, self.me(), "expired"))

    def lift(self, kind: str, name: str, by: str, why: str) -> Deferred[bool]:
        """Lift a ban or mute: tell the server, then forget it. Fires with whether it was
        lifted; a failure (not connected, no rank) keeps the entry for the next ``ready``."""
        s = self.store.get(kind, name)
        shown = s.name if s is not None else name
        if kind == "bans":
            d: Deferred[Any] = self.api.actions.unban(shown)
        elif self.api.channel.users.get(shown) is None:
            return succeed(False)  # unmuted when it rejoins
        else:
            d = self.api.actions.unmute(shown)

        def gone(f: Failure) -> None:
            f.trap(TargetNotFound, ActionFailed)  # not banned / not muted any more

        def done(_: Any) -> bool:
            self.store.remove(kind, shown)
            self.audit(shown, "unban" if kind == "bans" else "unmute", by, why)
            return True

        def failed(f: Failure) -> bool:
            self._refusal("unban" if kind == "bans" else "unmute", f)
            return False

        return d.addErrback(gone).addCallbacks(done, failed)

    def _active(self, s: Sanction) -> bool:
        return s.until is None or s.until > self.now

    def on_join(self, event: Event) -> None:
        """Re-apply a ban or mute to a name that joins; lift an expired mute."""
        name = event.user
        if not name or event.replayed:
            return
        rank = self.rank_of(name) or 0.0
        ban = self.store.get("bans", name)
        if ban is not None and self._active(ban):
            if rank >= ban.by_rank or self._exempt(name):
                self.log.info("moderation: {n} outranks its ban; not enforcing it", n=name)
                return
            self._track(self._enforce(name, ban))
            return
        mute = self.store.get("mutes", name)
        if mute is None:
            return
        user = self.api.channel.users.get(name)
        if not self._active(mute):
            self._track(self.lift("mutes", name, self.me(), "expired"))
        elif user is not None and not user.muted and rank < mute.by_rank:
            act = self.api.actions.smute if self.config.shadow_mute else self.api.actions.mute
            d = act(name).addErrback(lambda f: self._refusal("mute", f))
            self._track(d)

    def _enforce(self, name: str, ban: Sanction) -> Deferred[None]:
        def kick(f: Failure) -> Deferred[None]:
            f.trap(ActionFailed)  # already banned on the server: still in, so kick
            kicked: Deferred[None] = self.api.actions.kick(name, "banned")
            return kicked

        d: Deferred[None] = self.api.actions.ban(name, ban.reason).addErrback(kick)
        d.addCallback(lambda _: self.audit(name, "ban_enforced", self.me(), ban.reason, ban.until))
        return d.addErrback(lambda f: self._refusal("ban", f))

    def on_ready(self, event: Event) -> None:
        """Retry lifting what expired while the bot could not act."""
        for kind in ("bans", "mutes"):
            for s in list(self.store.items[kind].values()):
                if not self._active(s) and (kind, s.name.casefold()) not in self._timers:
                    self._track(self.lift(kind, s.name, self.me(), "expired"))


def _parse(raw: Mapping[str, Any]) -> ModerationConfig:
    return parse(raw)


moderation = PluginFactory(
    "moderation",
    Moderation,
    description="Spam and flood defence, word filters, timed mutes and bans, audit log.",
    default_enabled=False,
    parse=_parse,
)
