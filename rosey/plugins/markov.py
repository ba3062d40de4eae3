"""The ``markov`` plugin: learns how the channel talks and talks back.

It learns every live chat line except: lines the server replayed from before the bot joined,
the bot's own lines (and any line repeating what it said recently), commands (lines starting
with the command prefix or ``/``), pseudo-users (``[server]``, ``[voteskip]``), server
whispers and shadow-muted users, users on the configured ``opt_out`` list, and users who said
``!markov optout`` (until ``!markov optin``; both persist). Opting out stops learning; what was
learned before stays, as counts are not kept per user. It answers ``!markov [start words]``
and, with probability ``mention_probability`` and at most once per ``mention_cooldown``
seconds, a chat line that mentions the bot by name (``user: sentence``, seeded with that
line's words).

The model (:mod:`rosey.plugins.markov_model`) is updated in place, one line at a time, and
saved in the plugin's key/value store: ``meta`` (format, state size, lines learned),
``chain.0`` … ``chain.63`` (the shards) and ``optouts``. Only shards changed since the last
save are written, every ``save_interval`` seconds and when the plugin stops; it is read back at
start. Until it has been read (storage down at start: retried at every save tick) the plugin
learns nothing, so that neither a persisted opt-out nor the stored model can be overwritten.

Off unless enabled (``[plugins] enable = ["markov"]``). Configuration, ``[plugins.markov]``
(all optional)::

    state_size = 2              # words of context (1-3)
    learn = true                # false: only talk, from what was learned before
    mention_probability = 1.0   # 0 never answers mentions
    mention_cooldown = 30       # seconds between two mention answers
    command_cooldown = 5        # seconds between two !markov of one user
    max_length = 200            # longest answer, in characters (UTF-16 units), 20-320
    max_states = 50000          # model size bound (distinct states), 100-1000000
    save_interval = 60          # seconds between saves
    opt_out = ["otherbot"]      # never learn from these users
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredLock, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from rosey import events
from rosey.api import ANYWHERE, Arg, Command, CommandContext, Rest, StorageError, command
from rosey.events import Event
from rosey.plugin import Plugin, PluginFactory, Settings
from rosey.plugins.markov_model import SHARDS, MarkovModel, tokenize
from rosey.plugins.support import clean_text, safe_line

if TYPE_CHECKING:
    from rosey.api import IPluginAPI

__all__ = ["Markov", "MarkovConfig", "markov", "parse_config"]

log = Logger(namespace="rosey.plugins.markov")

_USER_NAME = re.compile(r"[A-Za-z0-9_-]{1,20}")
_WORD_EDGE = r"[A-Za-z0-9_-]"
#: Words (after the bot's name) a mention answer may start with; longest first.
_SEEDS = 5
_MAX_WORDS = 40
_PUNCT = ".,:;!?\"'()"


@dataclass(frozen=True)
class MarkovConfig:
    """The validated ``[plugins.markov]`` table (see the module docs)."""

    state_size: int = 2
    learn: bool = True
    mention_probability: float = 1.0
    mention_cooldown: float = 30.0
    command_cooldown: float = 5.0
    max_length: int = 200
    max_states: int = 50_000
    save_interval: float = 60.0
    opt_out: frozenset[str] = field(default_factory=frozenset)


def parse_config(raw: Mapping[str, Any]) -> MarkovConfig:
    """Validate ``[plugins.markov]``; raises :class:`PluginConfigError` naming the key."""
    d = MarkovConfig()
    s = Settings(raw, "markov")
    s.only(*MarkovConfig.__dataclass_fields__)
    names = s.strings("opt_out")
    for name in names:
        if not _USER_NAME.fullmatch(name):
            raise s.error("opt_out", f"{name!r} is not a CyTube user name")

    def number(name: str, default: float, high: float, low: float = 0) -> float:
        value = s.number(name, default, min=low, max=high)
        if math.isnan(value):  # TOML has nan, and nan passes every bound check
            raise s.error(name, "nan is not a number")
        return value

    return MarkovConfig(
        state_size=s.integer("state_size", d.state_size, min=1, max=3),
        learn=s.boolean("learn", d.learn),
        mention_probability=number("mention_probability", d.mention_probability, 1),
        mention_cooldown=number("mention_cooldown", d.mention_cooldown, 86400),
        command_cooldown=number("command_cooldown", d.command_cooldown, 3600),
        max_length=s.integer("max_length", d.max_length, min=20, max=320),
        max_states=s.integer("max_states", d.max_states, min=100, max=1_000_000),
        save_interval=number("save_interval", d.save_interval, 86400, low=1),
        opt_out=frozenset(n.casefold() for n in names),
    )


class Markov(Plugin):
    """The plugin instance for one channel (see the module docs).

    ``rng`` drives sampling and the mention dice (tests pass a seeded one). ``model`` is the
    live :class:`~rosey.plugins.markov_model.MarkovModel`; ``loaded`` tells whether the stored
    one has been read.
    """

    def __init__(self, api: IPluginAPI, rng: random.Random | None = None) -> None:
        super().__init__(api)
        self.config = self.config or MarkovConfig()
        self.settings: MarkovConfig = self.config
        self.rng = rng or random.Random()
        self.model = MarkovModel(self.settings.state_size, self.settings.max_states, self.rng)
        self.loaded = False
        self.opted_out: set[str] = set()
        self._optouts_dirty = False
        self._meta_dirty = False
        self._lock = DeferredLock()  # one storage job at a time: load, save
        self._ticker: LoopingCall | None = None
        self._next_mention_at = 0.0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Register ``!markov`` and the chat handler, start the save timer, read the model."""
        self.add_command(self._command())
        self.on(events.MESSAGE, self._on_message)
        self._ticker = LoopingCall(self._tick)
        self._ticker.clock = self.api.clock
        self._ticker.start(self.settings.save_interval, now=False).addErrback(
            lambda f: log.failure("markov: the save timer stopped", f)
        )
        return self.load()

    def stop(self) -> Deferred[None]:
        """Unregister, stop the timer and save what changed."""
        super().stop()
        if self._ticker is not None and self._ticker.running:
            self._ticker.stop()
        self._ticker = None
        if not self.loaded:
            log.warn("markov: stopping without saving: the stored model was never read")
            return succeed(None)
        return self.save()

    def _tick(self) -> Deferred[None]:
        d = self.save() if self.loaded else self.load()
        return d.addErrback(lambda f: log.failure("markov: the periodic save failed", f))

    # -- persistence ----------------------------------------------------------------------------

    def load(self) -> Deferred[None]:
        """Read opt-outs and the model from storage (once); never fails (errors are logged)."""
        d = self._lock.run(lambda: Deferred.fromCoroutine(self._load()))
        return d.addErrback(self._load_failed)

    def _load_failed(self, failure: Failure) -> None:
        if failure.check(StorageError):
            log.warn(
                "markov: cannot read the stored model ({error}); not learning until it can",
                error=failure.getErrorMessage(),
            )
        else:
            log.failure("markov: cannot read the stored model", failure)

    async def _load(self) -> None:
        if self.loaded:
            return
        kv = self.kv
        optouts = _names(await kv.get("optouts"))
        manifest = await kv.get("meta")
        model = MarkovModel(self.settings.state_size, self.settings.max_states, self.rng)
        if manifest is None:
            pass  # nothing saved yet
        elif not model.compatible(manifest):
            log.warn("markov: the stored model has another format or state size; starting anew")
            model.mark_dirty()  # overwrite every stored shard at the next save
        else:
            for i in range(SHARDS):
                text = await kv.get(f"chain.{i}")
                if text is None:
                    continue
                try:
                    model.load_shard(text)
                except ValueError as e:
                    log.warn("markov: stored shard {i} is unreadable ({error})", i=i, error=e)
                    model.mark_dirty([i])
        self.model = model
        self.opted_out |= optouts
        self.loaded = True
        log.info(
            "markov: {states} states from {lines} lines; {n} users opted out",
            states=len(model),
            lines=model.lines,
            n=len(self.opted_out),
        )

    def save(self) -> Deferred[None]:
        """Write the changed shards, the manifest and the opt-outs. A storage error is logged
        and what was not written is written at the next save."""
        return self._lock.run(lambda: Deferred.fromCoroutine(self._save()))

    def idle(self) -> Deferred[None]:
        """Fires once the storage job running now (a load or a save), if any, is over."""
        return self._lock.run(lambda: None)

    async def _save(self) -> None:
        if not self.loaded:
            return
        model, written = self.model, 0
        dirty = sorted(model.dirty)
        try:
            if self._optouts_dirty:
                self._optouts_dirty = False
                try:
                    await self.kv.set("optouts", json.dumps(sorted(self.opted_out)))
                except StorageError:
                    self._optouts_dirty = True
                    raise
            for i in dirty:
                text = model.dump_shard(i)  # one shard at a time: the reactor stays free
                try:
                    await self.kv.set(f"chain.{i}", text)
                except StorageError:
                    model.mark_dirty([i])
                    raise
                written += 1
            if dirty or self._meta_dirty:
                self._meta_dirty = True
                await self.kv.set("meta", model.manifest())
                self._meta_dirty = False
        except StorageError as e:
            model.mark_dirty(dirty[written:])
            log.warn(
                "markov: saving failed after {n} of {total} shards ({error}); will retry",
                n=written,
                total=len(dirty),
                error=e,
            )

    # -- chat -----------------------------------------------------------------------------------

    def _own_name(self) -> str | None:
        return self.api.channel.own_name or None

    def _on_message(self, event: Event) -> None:
        user, content = event.user, event.content
        if event.replayed or user is None or content is None:
            return
        if not _USER_NAME.fullmatch(user) or event.extra.get("server_whisper"):
            return
        if event.extra.get("shadow"):  # a shadow-muted user: shown to moderators only
            return
        own = self._own_name()
        if own is not None and user.casefold() == own.casefold():
            return
        text = content.strip()
        if text.startswith(self.api.prefix) or text.startswith("/"):
            return
        if self.api.channel.said_recently(text):  # its own words, repeated by a relay
            return
        if own is not None and _mentions(text, own):
            self._answer_mention(user, text, own)
        if self._may_learn(user):
            self.model.learn(text, drop=[own] if own else ())

    def _may_learn(self, user: str) -> bool:
        key = user.casefold()
        return (
            self.settings.learn
            and self.loaded
            and key not in self.settings.opt_out
            and key not in self.opted_out
        )

    def _answer_mention(self, user: str, text: str, own: str) -> None:
        now = self.api.clock.seconds()
        if now < self._next_mention_at:
            return
        if self.rng.random() >= self.settings.mention_probability:
            return
        tokens = tokenize(text, drop=[own])
        seeds = (set(tokens) | {w.strip(_PUNCT) for w in tokens}) - {""}
        words = sorted(seeds, key=lambda w: (-len(w), w))[:_SEEDS]
        room = max(10, self.settings.max_length - len(user) - 2)
        sentence = self.model.reply(words, max_length=room, max_words=_MAX_WORDS)
        if sentence is None:
            return
        self._next_mention_at = now + self.settings.mention_cooldown
        line = safe_line(f"{user}: {sentence}", self.api.prefix)
        self.api.say(line).addErrback(
            lambda f: log.info("markov: answer to {user} not sent: {e}", user=user, e=f.value)
        )

    # -- !markov --------------------------------------------------------------------------------

    def _command(self) -> Command:
        @command(
            "markov",
            args=[Arg("words", Rest, default="", metavar="start words|optout|optin")],
            cooldown_user=self.settings.command_cooldown,
            where=ANYWHERE,
            help="Say something the way this channel talks (optout/optin: stop/resume "
            "learning from you).",
        )
        async def markov_cmd(ctx: CommandContext) -> str:
            words = clean_text(ctx.args["words"])
            verb = words.casefold()
            if verb in ("optout", "opt-out"):
                return await self._opt(ctx.user, out=True)
            if verb in ("optin", "opt-in"):
                return await self._opt(ctx.user, out=False)
            start = tokenize(words)
            if words and not start:
                return "I can't start with that."
            sentence = self.model.sentence(
                start, max_length=self.settings.max_length, max_words=_MAX_WORDS
            )
            if sentence is None:
                if start:
                    return "I don't know how to go on from that."
                return "I haven't learned enough yet."
            return safe_line(sentence, ctx.prefix)

        return markov_cmd

    async def _opt(self, user: str, *, out: bool) -> str:
        key = user.casefold()
        if not out and key in self.settings.opt_out:
            return f"{user}: the channel's settings keep me from learning from you."
        if not self.loaded:
            await self.load()
            if not self.loaded:
                return "Sorry, my records are not available right now; try again later."
        if out and key in self.opted_out:
            return f"{user}: you have opted out already."
        if not out and key not in self.opted_out:
            return f"{user}: I'm learning from you already."
        if out:
            self.opted_out.add(key)
        else:
            self.opted_out.discard(key)
        self._optouts_dirty = True
        await self.save()
        done = (
            "I won't learn from what you say any more (what I learned stays)."
            if out
            else "I'll learn from what you say again."
        )
        if self._optouts_dirty:
            done += " (Not saved yet; I'll keep trying.)"
        return f"{user}: {done}"


def _mentions(text: str, name: str) -> bool:
    pattern = rf"(?<!{_WORD_EDGE}){re.escape(name)}(?!{_WORD_EDGE})"
    return re.search(pattern, text, re.IGNORECASE) is not None


def _names(raw: str | None) -> set[str]:
    """The stored opt-out list; anything unreadable counts as empty (and is logged)."""
    if raw is None:
        return set()
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, list):
        log.warn("markov: the stored opt-out list is unreadable; ignoring it")
        return set()
    return {n.casefold() for n in value if isinstance(n, str) and _USER_NAME.fullmatch(n)}


markov = PluginFactory(
    "markov",
    Markov,
    description="Learns from chat and answers !markov and mentions, in the channel's words.",
    default_enabled=False,
    parse=parse_config,
)
