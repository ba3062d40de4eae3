"""The ``fun`` plugin's trivia game: ``!trivia start|stop|top``.

``!trivia start`` (in chat, rank ``trivia_start_rank``) asks ``trivia_rounds`` questions from
the shipped bank (:mod:`rosey.plugins.fun_trivia_bank`), one at a time, each for
``trivia_seconds`` seconds, with a hint at half time when ``trivia_hint`` is on. The first live
chat line matching an answer scores a point; when time is up the answer is revealed. The starter
or a user of rank ``trivia_stop_rank`` may ``!trivia stop`` the game. ``!trivia top`` shows the
channel's all-time leaderboard. Every timer is on the bot's clock and is cancelled when the
plugin stops.

Storage layout (in the plugin's key/value namespace, so per channel)::

    trivia:scores -> {"alice": ["Alice", 12], ...}     case-folded name -> [name, points]
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from rosey.api import CHAT, Arg, Choice, Command, CommandContext, IKeyValue, command, rank_name
from rosey.events import Event
from rosey.plugins.fun_trivia_bank import Question, hint
from rosey.plugins.support import KvWriter, Loader, dump, load_json, send_safe

if TYPE_CHECKING:
    from rosey.api import IPluginAPI

__all__ = ["SCORES_KEY", "Scoreboard", "Trivia", "TriviaRules"]

log = Logger()

SCORES_KEY = "trivia:scores"
#: Seconds between a question's end and the next question.
PAUSE = 5.0
#: Names shown by ``!trivia top``.
TOP = 5
_USER_NAME = re.compile(r"[A-Za-z0-9_-]{1,20}")  # not [server] and other pseudo-users


@dataclass(frozen=True, slots=True)
class TriviaRules:
    """The game's settings (from the plugin config)."""

    rounds: int = 10
    seconds: float = 30.0
    hint: bool = True
    start_rank: float = 0
    stop_rank: float = 2


class Scoreboard:
    """All-time points per user, in memory and in the plugin's key/value store.

    Points won before the stored board was read (storage slow or down) are added to it once it
    is; nothing is written before that, so a stored board is never replaced by a partial one.
    """

    def __init__(self, kv: IKeyValue, writer: KvWriter) -> None:
        self._kv = kv
        self._writer = writer
        self.scores: dict[str, tuple[str, int]] = {}
        self.loader = Loader(self._load, f"{kv.namespace} trivia scores")

    async def _load(self) -> None:
        stored = await load_json(self._kv, SCORES_KEY)
        board: dict[str, tuple[str, int]] = {}
        for key, row in (stored if isinstance(stored, dict) else {}).items():
            if (
                isinstance(row, list)
                and len(row) == 2
                and isinstance(row[0], str)
                and isinstance(row[1], int)
                and not isinstance(row[1], bool)
            ):
                board[key] = (row[0], row[1])
            else:
                log.warn("trivia: ignoring a bad score row {key!r}: {row!r}", key=key, row=row)
        won = self.scores
        for key, (name, points) in won.items():
            board[key] = (name, board.get(key, (name, 0))[1] + points)
        self.scores = board
        if won:
            self._save()

    def add(self, user: str, points: int = 1) -> int:
        """Give ``user`` points; returns their total."""
        key = user.casefold()
        total = self.scores.get(key, (user, 0))[1] + points
        self.scores[key] = (user, total)
        if self.loader.loaded:
            self._save()
        else:
            self.loader.ensure()
        return total

    def top(self, n: int = TOP) -> list[tuple[str, int]]:
        """The ``n`` best ``(name, points)``, most points first."""
        rows = sorted(self.scores.values(), key=lambda row: (-row[1], row[0].casefold()))
        return rows[:n]

    def _save(self) -> None:
        self._writer.save(
            SCORES_KEY, lambda: (dump({k: list(v) for k, v in self.scores.items()}), None)
        )


@dataclass
class _Game:
    starter: str
    questions: list[Question]
    number: int = 0  # 1-based number of the current question; 0 before the first
    open: bool = False  # a question is waiting for its answer
    won: dict[str, int] = field(default_factory=dict)  # points this game, by name

    @property
    def question(self) -> Question:
        return self.questions[self.number - 1]


class Trivia:
    """One channel's trivia game and its ``!trivia`` command.

    ``rng`` is called for the randomness at each game (tests swap it); ``persistent`` says
    whether the scoreboard outlives a restart (False on a bot without a database).
    """

    def __init__(
        self,
        api: IPluginAPI,
        board: Scoreboard,
        rules: TriviaRules,
        questions: tuple[Question, ...],
        rng: Callable[[], random.Random],
        *,
        persistent: bool = True,
    ) -> None:
        self._api = api
        self.board = board
        self.rules = rules
        self.questions = questions
        self._rng = rng
        self.persistent = persistent
        self.game: _Game | None = None
        self._timers: list[IDelayedCall] = []

    # -- the command ----------------------------------------------------------------------------

    def command(self) -> Command:
        """The declared command."""
        return command(
            "trivia",
            args=[Arg("action", Choice("start", "stop", "top"), default=None)],
            cooldown_user=3,
            help="Trivia: trivia start, trivia stop, trivia top (the channel's best players).",
        )(self.run)

    def run(self, ctx: CommandContext) -> str:
        action = ctx.args["action"]
        if action == "start":
            return self._start(ctx)
        if action == "stop":
            return self._stop_cmd(ctx)
        if action == "top":
            return self._top()
        game = self.game
        if game is not None and game.open:
            return f"Question {game.number}/{len(game.questions)}: {game.question.text}"
        return f"Usage: {ctx.invocation} start | stop | top"

    def _start(self, ctx: CommandContext) -> str:
        if ctx.where is not CHAT:
            return "Start trivia in the channel's chat."
        if ctx.rank < self.rules.start_rank:
            return f"Sorry, starting trivia needs {rank_name(self.rules.start_rank)} rank."
        if self.game is not None:
            return f"Trivia is already running ({ctx.invocation} stop ends it)."
        rounds = min(self.rules.rounds, len(self.questions))
        picked = self._rng().sample(list(self.questions), rounds)
        self.game = _Game(ctx.user, picked)
        self._later(1.0, self._ask)
        seconds = f"{self.rules.seconds:g}"
        return f"Trivia! {rounds} questions, {seconds} seconds each: answer in chat."

    def _stop_cmd(self, ctx: CommandContext) -> str:
        game = self.game
        if game is None:
            return "No trivia is running."
        starter = game.starter.casefold() == ctx.user.casefold()
        if not starter and ctx.rank < self.rules.stop_rank:
            who = rank_name(self.rules.stop_rank)
            return f"Sorry, only {game.starter} or a {who} can stop this game."
        answer = f" The answer was: {game.question.answers[0]}." if game.open else ""
        self.stop()
        return f"Trivia stopped by {ctx.user}.{answer}"

    def _top(self) -> str:
        rows = self.board.top()
        note = "" if self.persistent else " (no database: kept only until a restart)"
        if not rows:
            return f"No trivia scores yet.{note}"
        ranked = ", ".join(f"{i}. {name} {points}" for i, (name, points) in enumerate(rows, 1))
        return f"Trivia top: {ranked}.{note}"

    # -- the game -------------------------------------------------------------------------------

    def on_message(self, event: Event) -> None:
        """A chat line: the first right answer to the open question scores."""
        game, user, text = self.game, event.user, event.content
        if game is None or not game.open or event.replayed or user is None or text is None:
            return
        if self._api.channel.is_me(user):
            return
        if not _USER_NAME.fullmatch(user) or event.extra.get("server_whisper"):
            return
        if text.lstrip().startswith(self._api.prefix):
            return  # a command is not a guess
        if not game.question.accepts(text):
            return
        self._cancel()
        game.open = False
        total = self.board.add(user)
        game.won[user] = game.won.get(user, 0) + 1
        answer = game.question.answers[0]
        self._say(f"{user} got it: {answer}! ({user}: {total} point{'s' if total != 1 else ''})")
        self._later(PAUSE, self._next)

    def _ask(self) -> None:
        game = self.game
        if game is None:
            return
        game.number += 1
        game.open = True
        question = game.question
        self._say(f"Question {game.number}/{len(game.questions)}: {question.text}")
        if self.rules.hint:
            self._later(self.rules.seconds / 2, self._hint)
        self._later(self.rules.seconds, self._time_up)

    def _hint(self) -> None:
        game = self.game
        if game is not None and game.open:
            self._say(f"Hint: {hint(game.question.answers[0])}")

    def _time_up(self) -> None:
        game = self.game
        if game is None or not game.open:
            return
        self._cancel()
        game.open = False
        self._say(f"Time's up! The answer was: {game.question.answers[0]}.")
        self._later(PAUSE, self._next)

    def _next(self) -> None:
        game = self.game
        if game is None:
            return
        if game.number < len(game.questions):
            self._ask()
            return
        won = sorted(game.won.items(), key=lambda row: (-row[1], row[0].casefold()))
        self.stop()
        if won:
            best = ", ".join(f"{name} {points}" for name, points in won[:TOP])
            top = f"{self._api.prefix}trivia top"
            self._say(f"Trivia over! This game: {best}. Say {top} for the all-time best.")
        else:
            self._say("Trivia over! Nobody scored this time.")

    def stop(self) -> None:
        """End the game (if any) and cancel its timers."""
        self._cancel()
        self.game = None

    # -- helpers --------------------------------------------------------------------------------

    def _later(self, seconds: float, call: Callable[[], Any]) -> None:
        self._timers = [t for t in self._timers if t.active()]
        self._timers.append(self._api.clock.callLater(seconds, call))

    def _cancel(self) -> None:
        timers, self._timers = self._timers, []
        for timer in timers:
            if timer.active():
                timer.cancel()

    def _say(self, text: str) -> Deferred[None]:
        def failed(failure: Failure) -> None:
            log.info(
                "trivia: could not say {text!r}: {error}",
                text=text[:60],
                error=failure.getErrorMessage(),
            )

        api = self._api
        return send_safe(api.say, text, api.prefix, api.max_line_length).addErrback(failed)
