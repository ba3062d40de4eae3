"""The **fun** plugin: ``!8ball``, ``!choose``, ``!quote``, ``!remindme``, ``!reminders``,
``!countdown`` and ``!trivia``.

- ``!8ball <question>``: a random answer; per-user cooldown ``eightball_cooldown`` seconds.
- ``!choose a | b | c``: picks one of 2 to 20 options (``|``-separated, or ``,`` when there is no
  ``|``); empty options are refused.
- ``!quote``: a quote book (:mod:`rosey.plugins.fun_quotes`); deleting someone else's quote needs
  ``quote_delete_rank``.
- ``!remindme``, ``!reminders``, ``!countdown``: timers that persist across restarts
  (:mod:`rosey.plugins.fun_timers`, :mod:`rosey.plugins.fun_timer_commands`).
- ``!trivia start|stop|top``: a quiz from the questions shipped with rosey, scores kept per
  channel (:mod:`rosey.plugins.fun_trivia`).

Config (``[plugins.fun]``, every key optional)::

    eightball_cooldown = 10          # seconds per user
    eightball_answers = ["Yes.", …]  # replaces the classic twenty
    quote_max_length = 300
    max_quotes = 10000
    quote_add_rank = 0
    quote_delete_rank = 2            # to delete a quote someone else added
    reminder_max_length = 200
    max_reminders_per_user = 10
    max_reminder_days = 30
    max_countdowns = 20
    max_countdowns_per_user = 3
    max_countdown_days = 366
    countdown_manage_rank = 2        # to replace or cancel somebody else's countdown
    trivia_rounds = 10               # questions per game
    trivia_seconds = 30              # seconds to answer each question
    trivia_hint = true               # show a hint (first letters) at half time
    trivia_start_rank = 0            # to start a game
    trivia_stop_rank = 2             # to stop a game somebody else started

Everything the plugin keeps is in its key/value namespace ``fun`` (layouts in the helper
modules). Replies never start with ``/`` or the command prefix, whatever users typed.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred

from rosey import events
from rosey.api import Arg, Command, CommandContext, Rest, command
from rosey.plugin import Plugin, PluginFactory, Settings
from rosey.plugins.fun_quotes import QuoteBook, QuoteCommand, QuoteRules
from rosey.plugins.fun_timedata import TimerRules
from rosey.plugins.fun_timer_commands import TimerCommands
from rosey.plugins.fun_timers import Timers
from rosey.plugins.fun_trivia import Scoreboard, Trivia, TriviaRules
from rosey.plugins.fun_trivia_bank import Question, load_questions
from rosey.plugins.support import KvWriter, clean_text, safe_line

if TYPE_CHECKING:
    from rosey.api import IPluginAPI

__all__ = ["EIGHTBALL_ANSWERS", "Fun", "FunConfig", "fun", "parse"]

EIGHTBALL_ANSWERS = (
    "It is certain.",
    "It is decidedly so.",
    "Without a doubt.",
    "Yes, definitely.",
    "You may rely on it.",
    "As I see it, yes.",
    "Most likely.",
    "Outlook good.",
    "Yes.",
    "Signs point to yes.",
    "Reply hazy, try again.",
    "Ask again later.",
    "Better not tell you now.",
    "Cannot predict now.",
    "Concentrate and ask again.",
    "Don't count on it.",
    "My reply is no.",
    "My sources say no.",
    "Outlook not so good.",
    "Very doubtful.",
)
#: Fewest and most options ``!choose`` takes, and the longest option.
CHOOSE_MIN, CHOOSE_MAX, CHOOSE_OPTION_LENGTH = 2, 20, 100
_DAY = 86400.0


@dataclass(frozen=True)
class FunConfig:
    """The parsed ``[plugins.fun]`` table."""

    eightball_cooldown: float = 10.0
    eightball_answers: tuple[str, ...] = EIGHTBALL_ANSWERS
    quotes: QuoteRules = field(default_factory=QuoteRules)
    timers: TimerRules = field(default_factory=TimerRules)
    trivia: TriviaRules = field(default_factory=TriviaRules)
    questions: tuple[Question, ...] = field(default_factory=load_questions, repr=False)


_KEYS = (
    "eightball_cooldown",
    "eightball_answers",
    "quote_max_length",
    "max_quotes",
    "quote_add_rank",
    "quote_delete_rank",
    "reminder_max_length",
    "max_reminders_per_user",
    "max_reminder_days",
    "max_countdowns",
    "max_countdowns_per_user",
    "max_countdown_days",
    "countdown_manage_rank",
    "trivia_rounds",
    "trivia_seconds",
    "trivia_hint",
    "trivia_start_rank",
    "trivia_stop_rank",
)


def parse(raw: Mapping[str, Any]) -> FunConfig:
    """Validate ``[plugins.fun]``; raises :class:`~rosey.plugin.PluginConfigError` naming the
    key."""
    s = Settings(raw, "fun")
    s.only(*_KEYS)
    answers = s.strings("eightball_answers", EIGHTBALL_ANSWERS)
    if not answers:
        raise s.error("eightball_answers", "needs at least one answer")
    for answer in answers:
        if not answer.strip() or len(answer) > 200 or clean_text(answer) != answer.strip():
            raise s.error(
                "eightball_answers", f"{answer!r} is not a one-line answer of 1-200 chars"
            )
    quotes = QuoteRules(
        max_length=s.integer("quote_max_length", 300, min=10, max=1000),
        max_quotes=s.integer("max_quotes", 10_000, min=1, max=1_000_000),
        add_rank=s.number("quote_add_rank", 0, min=-1, max=255),
        delete_rank=s.number("quote_delete_rank", 2, min=0, max=255),
    )
    timers = TimerRules(
        max_reminder_length=s.integer("reminder_max_length", 200, min=10, max=1000),
        max_reminders_per_user=s.integer("max_reminders_per_user", 10, min=1, max=1000),
        max_reminder_seconds=s.number("max_reminder_days", 30, min=0.01, max=3660) * _DAY,
        max_countdowns=s.integer("max_countdowns", 20, min=1, max=1000),
        max_countdowns_per_user=s.integer("max_countdowns_per_user", 3, min=1, max=1000),
        max_countdown_seconds=s.number("max_countdown_days", 366, min=0.01, max=3660) * _DAY,
        manage_rank=s.number("countdown_manage_rank", 2, min=0, max=255),
    )
    trivia = TriviaRules(
        rounds=s.integer("trivia_rounds", 10, min=1, max=100),
        seconds=s.number("trivia_seconds", 30, min=5, max=600),
        hint=s.boolean("trivia_hint", True),
        start_rank=s.number("trivia_start_rank", 0, min=0, max=255),
        stop_rank=s.number("trivia_stop_rank", 2, min=0, max=255),
    )
    return FunConfig(
        eightball_cooldown=s.number("eightball_cooldown", 10.0, min=0, max=86400),
        eightball_answers=tuple(a.strip() for a in answers),
        quotes=quotes,
        timers=timers,
        trivia=trivia,
        questions=load_questions(),  # read here, before the reactor runs
    )


def split_options(text: str) -> list[str]:
    """``a | b | c`` → ``["a", "b", "c"]`` (``,`` separates when there is no ``|``); options are
    cleaned (one line, trimmed), empty ones kept as ``""`` for the caller to refuse."""
    separator = "|" if "|" in text else ","
    return [clean_text(part) for part in text.split(separator)]


class Fun(Plugin):
    """The fun plugin for one channel's bot. ``rng`` is its randomness (tests replace it)."""

    config: FunConfig

    def __init__(self, api: IPluginAPI) -> None:
        super().__init__(api)
        if self.config is None:
            self.config = FunConfig()
        self.rng = random.Random()
        self.writer = KvWriter(self.kv, api.clock)
        self.quotes = QuoteBook(self.kv, self.writer)
        self.timers = Timers(api, self.kv, self.writer, self.config.timers)
        self.trivia = Trivia(
            api,
            Scoreboard(self.kv, self.writer),
            self.config.trivia,
            self.config.questions,
            lambda: self.rng,
            persistent=api.persistent,
        )

    def start(self) -> Deferred[None]:
        """Register the commands and load the quotes and the pending timers."""
        api = self.api
        if not api.persistent:
            self.log.warn(
                "fun: no database, so quotes, timers and trivia scores last only until a restart"
            )
        quote = QuoteCommand(
            self.quotes, self.config.quotes, api.clock, lambda: self.rng, api.max_line_length
        )
        timer_commands = TimerCommands(self.timers, api.clock, api.max_line_length)
        self.add_command(self._eightball(), self._choose(), quote.command())
        self.add_command(*timer_commands.commands())
        self.add_command(self.trivia.command())
        self.on(events.READY, self.timers.on_ready)
        self.on(events.MESSAGE, self.trivia.on_message)
        self.quotes.loader.ensure()
        self.trivia.board.loader.ensure()
        return self.timers.start().addCallback(lambda _: None)

    def stop(self) -> Deferred[None]:
        """Unregister, cancel the timers' calls and write out what is unsaved."""
        super().stop()
        self.timers.stop()
        self.trivia.stop()
        return self.writer.close()

    def idle(self) -> Deferred[None]:
        """Fires once no timer delivery runs and nothing is being written (for tests)."""
        return self.timers.idle()

    # -- !8ball and !choose ---------------------------------------------------------------------

    def _eightball(self) -> Command:
        @command(
            "8ball",
            aliases=("eightball",),
            args=[Arg("question", Rest)],
            cooldown_user=self.config.eightball_cooldown,
            help="Ask the magic 8-ball a yes-or-no question.",
        )
        def eightball(ctx: CommandContext) -> str:
            answer = self.rng.choice(self.config.eightball_answers)
            return safe_line(f"{ctx.user}: {answer}", ctx.prefix)

        return eightball

    def _choose(self) -> Command:
        @command(
            "choose",
            aliases=("pick",),
            args=[Arg("options", Rest, metavar="a | b | c")],
            cooldown_user=3,
            help=f"Pick one of {CHOOSE_MIN} to {CHOOSE_MAX} options: choose tea | coffee.",
        )
        def choose(ctx: CommandContext) -> str:
            options = split_options(ctx.args["options"])
            usage = f"Usage: {ctx.invocation} a | b | c ({CHOOSE_MIN} to {CHOOSE_MAX} options)"
            if not CHOOSE_MIN <= len(options) <= CHOOSE_MAX:
                return usage
            for i, option in enumerate(options, 1):
                if not option:
                    return f"Option {i} is empty. {usage}"
                if len(option) > CHOOSE_OPTION_LENGTH:
                    return f"Option {i} is too long (at most {CHOOSE_OPTION_LENGTH} characters)."
            return safe_line(f"{ctx.user}: {self.rng.choice(options)}", ctx.prefix)

        return choose


fun = PluginFactory(
    "fun",
    Fun,
    description="8ball, choose, quotes, reminders, countdowns and trivia.",
    parse=parse,
)
