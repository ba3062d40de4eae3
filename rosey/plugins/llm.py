"""The ``llm`` plugin: the bot as a character in the channel, answered by any server speaking the
OpenAI chat-completions API (llama.cpp's ``llama-server``, Ollama, vLLM, a hosted API).

When it answers: a chat line that mentions the bot by name (``answer_mentions``), a PM
(``answer_pms``), ``!ask question`` (``ask_command``), and, with probability
``join_probability`` at most once per ``join_cooldown`` seconds, any other chat line (it joins
the conversation). Never: chat the server replayed from before the bot joined, the bot's own
lines, users listed in ``bots``, server whispers, shadow-muted users, commands.

Safety. Answers are plain text on one line, cut to ``max_answer_chars`` and split into at most
``max_lines`` chat lines that fit the send queue's limit; every part goes through the plugins'
safe text (:func:`rosey.plugins.support.safe_parts`), so no part starts a CyTube command (``/kick``)
or with the command prefix, and all of it goes through the send queue (``api.say``/``api.pm``).

Load. One request in flight per channel; questions meanwhile wait in order (``busy =
"queue"``, up to ``queue_size``) or are dropped with a short note (``busy = "drop"``). Each user
has a cooldown; the channel a budget of requests per minute and tokens per hour
(:mod:`rosey.plugins.llm_budget`); a 429's ``retry-after`` pauses it. The request never blocks:
it is an ``api.post_json`` bounded by ``timeout``. A server that is down, slow or answering
garbage gets one short line in chat (at most once a minute) and one log line per outage.

Moderators (``mod_rank``): ``!llm off``/``!llm on`` pause it (kept across restarts) and
``!llm status`` shows the budget. Anyone: ``!llm optout``/``!llm optin``: their lines are never
sent to the server as context (kept across restarts; ``opt_out`` lists more names).
Configuration: ``[plugins.llm]`` (:mod:`rosey.plugins.llm_config`, ``docs/llm.md``).
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import Logger

from rosey import events
from rosey.api import ANYWHERE, PM, Arg, Command, CommandContext, Rest, command
from rosey.plugin import Plugin, PluginFactory
from rosey.plugins.llm_budget import Budget, estimate_tokens
from rosey.plugins.llm_client import LLMError, answer_text, complete
from rosey.plugins.llm_config import LLMConfig, parse_config
from rosey.plugins.llm_context import ChatContext, build_messages
from rosey.plugins.support import (
    KvWriter,
    Loader,
    all_done,
    clean_text,
    dump,
    load_json,
    safe_parts,
)

if TYPE_CHECKING:
    from rosey.api import IPluginAPI
    from rosey.events import Event

__all__ = ["LLM", "llm"]

log = Logger(namespace="rosey.plugins.llm")

SORRY = "I can't think right now."
BUSY = "I'm still thinking about the last question; ask me again in a moment."
SPENT = "I've talked enough for now; ask me again later."
_NOTE_EVERY = 60.0  # seconds between two notes of one kind in chat
_WORD_EDGE = r"[A-Za-z0-9_-]"
_USER_NAME = re.compile(r"[A-Za-z0-9_-]{1,20}")


@dataclass(frozen=True, slots=True)
class Question:
    """One thing to answer: ``user`` asked ``text`` (empty: join the conversation), by PM
    when ``private``."""

    user: str
    text: str
    private: bool = False


class LLM(Plugin):
    """The plugin instance for one channel (see the module docs). ``rng`` rolls the
    join-the-conversation dice (tests pass a seeded one)."""

    def __init__(self, api: IPluginAPI, rng: random.Random | None = None) -> None:
        super().__init__(api)
        self.settings: LLMConfig = self.config or LLMConfig()
        self.rng = rng or random.Random()
        self.context = ChatContext(self.settings.context_lines)
        s = self.settings
        self.budget = Budget(s.user_cooldown, s.requests_per_minute, s.tokens_per_hour)
        self.paused = False
        self.opted_out: set[str] = set()
        self.queue: deque[Question] = deque()
        self.busy = False
        self.down = False  # the last request failed (logged once until one succeeds)
        self._running: Deferred[None] | None = None
        self._next_join = 0.0
        self._next_note: dict[str, float] = {}
        self._writer = KvWriter(self.kv, api.clock)
        self._loader = Loader(self._load, "the llm opt-outs")

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Register the commands and handlers; read the opt-outs and the pause."""
        self.add_command(self._llm_command())
        if self.settings.ask_command:
            self.add_command(self._ask_command())
        self.on(events.MESSAGE, self._on_message)
        self.on(events.PM, self._on_pm)
        self._loader.ensure()

    def stop(self) -> Deferred[None]:
        """Unregister, abandon the request in flight and the queue, save what changed."""
        super().stop()
        self.queue.clear()
        if self._running is not None:
            self._running.cancel()
        return self._writer.close()

    async def _load(self) -> None:
        names = await load_json(self.kv, "optouts")  # unreadable: None (logged)
        if isinstance(names, list):
            self.opted_out |= {n.casefold() for n in names if isinstance(n, str)}
        self.paused = self.paused or (await self.kv.get("paused")) == "true"

    def _save(self) -> None:
        self._writer.save("optouts", lambda: (dump(sorted(self.opted_out)), None))
        self._writer.save("paused", lambda: ("true" if self.paused else None, None))

    @property
    def now(self) -> float:
        return self.api.clock.seconds()

    # -- chat -----------------------------------------------------------------------------------

    def _ignored(self, event: Event) -> bool:
        """Whether ``event`` is nothing to listen to: replayed, a bot, a whisper, a command."""
        user, content = event.user, event.content
        if event.replayed or user is None or content is None:
            return True
        if not _USER_NAME.fullmatch(user) or user.casefold() in self.settings.bots:
            return True
        if event.extra.get("server_whisper") or event.extra.get("shadow"):
            return True
        text = content.strip()
        return text.startswith(self.api.prefix) or text.startswith("/")

    def _on_message(self, event: Event) -> None:
        if self._ignored(event):
            return
        user, text = str(event.user), clean_text(str(event.content))
        if self.api.channel.is_me(user) or self.api.channel.said_recently(text):
            self.context.add(user, text, own=True)
            return
        own = self.api.channel.own_name
        mentioned = bool(own) and _mentions(text, own)
        if mentioned and self.settings.answer_mentions:
            self.ask(Question(user, text))
        elif not mentioned and self._roll_join():
            self._next_join = self.now + self.settings.join_cooldown
            self.context.add(user, text)
            self.ask(Question(user, ""), quiet=True)
            return
        self.context.add(user, text)

    def _roll_join(self) -> bool:
        p = self.settings.join_probability
        return p > 0 and self.now >= self._next_join and self.rng.random() < p

    def _on_pm(self, event: Event) -> None:
        if self._ignored(event) or not self.settings.answer_pms:
            return
        user = str(event.user)
        if self.api.channel.is_me(user):  # the echo of a PM the bot sent
            return
        self.ask(Question(user, clean_text(str(event.content)), private=True))

    # -- asking ---------------------------------------------------------------------------------

    def ask(self, question: Question, *, quiet: bool = False) -> None:
        """Answer ``question`` now, later (queued) or not (paused, cooling down, over budget,
        queue full: a short note, at most once a minute, unless ``quiet``)."""
        if self.paused:
            return
        now = self.now
        if question.text and self.budget.cooling(question.user, now) > 0:
            return
        refusal = self.budget.refusal(now)
        if refusal is not None:
            log.info("llm: not asking for {user}: {why}", user=question.user, why=refusal)
            if not quiet:
                self._note("spent", question, SPENT)
            return
        if question.text:
            self.budget.touch(question.user, now)
        if self.busy:
            if self.settings.busy == "queue" and len(self.queue) < self.settings.queue_size:
                self.queue.append(question)
            elif not quiet:
                self._note("busy", question, BUSY)
            return
        self._start(question)

    def _start(self, question: Question) -> None:
        self.busy = True
        self.budget.spend_request(self.now)
        d = Deferred.fromCoroutine(self._answer(question))
        self._running = d
        d.addErrback(lambda f: None if f.check(CancelledError) else log.failure("llm crashed", f))
        d.addBoth(lambda _: self._next(d))

    def _next(self, done: Deferred[None]) -> None:
        if self._running is done:
            self._running = None
        self.busy = False
        while self.queue and not self.busy:
            question = self.queue.popleft()
            refusal = self.budget.refusal(self.now)
            if refusal is None:
                self._start(question)
            else:
                self._note("spent", question, SPENT)

    async def _answer(self, question: Question) -> None:
        await self._loader.ensure()  # the opt-outs (False: nobody's lines are sent)
        allowed = self._allowed if self._loader.loaded else (lambda _: False)
        own = self.api.channel.own_name
        lines = self.context.lines(allowed, self.settings.context_chars)
        messages = build_messages(
            self.settings.persona,
            own,
            lines,
            question.user,
            question.text,
            private=question.private,
        )
        try:
            answer = await complete(self.api, self.settings, messages)
            text = answer_text(answer.text, own, self.settings.max_answer_chars)
            if not text:
                raise LLMError("the answer is empty")
        except LLMError as e:
            self._failed(question, e)
            return
        sent = json.dumps(messages)
        self.budget.spend_tokens(self.now, answer.tokens or estimate_tokens(sent, answer.text))
        if self.down:
            log.info("llm: the server answers again")
            self.down = False
        self._send(question, text)  # the send queue paces it; the next question need not wait

    def _failed(self, question: Question, error: LLMError) -> None:
        if error.retry_after is not None:
            self.budget.pause(self.now, error.retry_after)
        if not self.down:
            log.warn("llm: no answer from the server: {why}", why=str(error))
            self.down = True
        self._note("sorry", question, SORRY)

    def _allowed(self, user: str) -> bool:
        key = user.casefold()
        return key not in self.opted_out and key not in self.settings.opt_out

    # -- talking --------------------------------------------------------------------------------

    def _parts(self, question: Question, text: str) -> list[str]:
        """``text`` as at most ``max_lines`` safe parts (addressed to the asker in chat)."""
        if question.text and not question.private:
            text = f"{question.user}: {text}"
        parts = safe_parts(text, self.api.prefix, self.api.max_line_length)
        limit = self.settings.max_lines
        if len(parts) > limit:
            parts = parts[:limit]
            parts[-1] += "…"  # safe_parts left room for a mark
        return parts

    def _send(self, question: Question, text: str) -> Deferred[None]:
        send: Callable[[str], Deferred[None]] = self.api.say
        if question.private:
            send = functools.partial(self.api.pm, question.user)
        d = all_done([send(part) for part in self._parts(question, text)])
        return d.addErrback(
            lambda f: log.info("llm: answer to {user} not sent: {e}", user=question.user, e=f.value)
        )

    def _note(self, kind: str, question: Question, text: str) -> None:
        """A short note to the asker, at most once a minute for each kind."""
        now = self.now
        if now < self._next_note.get(kind, 0.0):
            return
        self._next_note[kind] = now + _NOTE_EVERY
        if question.text:
            self._send(question, text)

    # -- commands -------------------------------------------------------------------------------

    def _ask_command(self) -> Command:
        @command(
            "ask",
            args=[Arg("question", Rest, metavar="question")],
            where=ANYWHERE,
            help="Ask me something.",
        )
        def ask_cmd(ctx: CommandContext) -> None:
            text = clean_text(ctx.args["question"])
            if text and ctx.user.casefold() not in self.settings.bots:
                self.ask(Question(ctx.user, text, private=ctx.where == PM))

        return ask_cmd

    def _llm_command(self) -> Command:
        @command(
            "llm",
            args=[Arg("what", Rest, default="", metavar="on|off|status|optout|optin")],
            where=ANYWHERE,
            help="optout/optin: keep your lines out of what I think about (moderators: "
            "on, off, status).",
        )
        async def llm_cmd(ctx: CommandContext) -> str:
            verb = clean_text(ctx.args["what"]).casefold()
            if verb in ("optout", "optin"):
                return await self._opt(ctx.user, out=verb == "optout")
            if verb not in ("on", "off", "status"):
                return f"Usage: {ctx.prefix}llm optout|optin (moderators: on|off|status)"
            if ctx.rank < self.settings.mod_rank:
                return "Only moderators can do that."
            if verb == "status":
                return self.status()
            await self._loader.ensure()
            self.paused = verb == "off"
            if self.paused:
                self.queue.clear()
            self._save()
            return "I'll stay quiet." if self.paused else "I'm listening again."

        return llm_cmd

    def status(self) -> str:
        """One line: paused or not, the budget, the queue and the server's health."""
        state = "off" if self.paused else "on"
        health = "not answering" if self.down else "ok"
        return (
            f"llm {state}: {self.budget.describe(self.now)}; "
            f"{'thinking' if self.busy else 'idle'}, {len(self.queue)} queued; server {health}"
        )

    async def _opt(self, user: str, *, out: bool) -> str:
        key = user.casefold()
        if not out and key in self.settings.opt_out:
            return f"{user}: the channel's settings keep your lines out."
        if not await self._loader.ensure():
            return "Sorry, my records are not available right now; try again later."
        if out:
            self.opted_out.add(key)
            self.context.forget(user)
        else:
            self.opted_out.discard(key)
        self._save()
        if out:
            return f"{user}: I won't pass on what you say any more."
        return f"{user}: what you say may be part of what I think about again."


def _mentions(text: str, name: str) -> bool:
    pattern = rf"(?<!{_WORD_EDGE}){re.escape(name)}(?!{_WORD_EDGE})"
    return re.search(pattern, text, re.IGNORECASE) is not None


llm = PluginFactory(
    "llm",
    LLM,
    description="A persona that answers mentions, PMs and !ask through an OpenAI-compatible "
    "language model server.",
    default_enabled=False,
    parse=parse_config,
)
