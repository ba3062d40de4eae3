"""The trivia questions shipped with rosey, and how answers are compared.

The questions are ``rosey/plugins/data/trivia.json`` (package data): a list of
``{"q": "question", "a": ["answer", "another accepted spelling", ...]}``. The first answer is the
one revealed. Guesses match an answer after :func:`normalize` (case, accents, punctuation, extra
spaces and a leading "the"/"a"/"an" do not matter).
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from dataclasses import dataclass, field
from importlib.resources import files

__all__ = ["BANK_FILE", "Question", "hint", "load_questions", "normalize", "parse_questions"]

#: Where the questions are, relative to the ``rosey.plugins`` package.
BANK_FILE = ("data", "trivia.json")

_ARTICLE = re.compile(r"^(?:the|an|a) ")
_NOT_WORD = re.compile(r"[^\w]+")
_MAX_TEXT = 300


def normalize(text: str) -> str:
    """``"  The Eiffel-Tower!"`` → ``"eiffel tower"``; ``"Pokémon"`` → ``"pokemon"``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = " ".join(_NOT_WORD.sub(" ", plain).replace("_", " ").split())
    return _ARTICLE.sub("", words)


@dataclass(frozen=True, slots=True)
class Question:
    """One question and its accepted answers (``answers[0]`` is the one shown)."""

    text: str
    answers: tuple[str, ...]
    accepted: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "accepted", frozenset(normalize(a) for a in self.answers))

    def accepts(self, guess: str) -> bool:
        """Whether ``guess`` is one of the answers (see :func:`normalize`)."""
        wanted = normalize(guess)
        return bool(wanted) and wanted in self.accepted


def hint(answer: str) -> str:
    """The first letter of each word, the other letters and digits as ``_``:
    ``"Mount Everest"`` → ``"M____ E______"``."""
    out, first = [], True
    for char in answer:
        if char.isalnum():
            out.append(char if first else "_")
            first = False
        else:
            out.append(char)
            first = char.isspace()
    return "".join(out)


def _valid(text: str, answers: list[object]) -> bool:
    return (
        0 < len(text.strip()) <= _MAX_TEXT
        and bool(answers)
        and all(isinstance(a, str) and len(normalize(a)) > 0 and len(a) <= 100 for a in answers)
    )


def parse_questions(raw: object) -> list[Question]:
    """The questions in a decoded questions file; raises ``ValueError`` naming a bad entry."""
    if not isinstance(raw, list) or not raw:
        raise ValueError("the questions file must hold a non-empty list")
    questions = []
    for i, entry in enumerate(raw):
        text = entry.get("q") if isinstance(entry, dict) else None
        answers = entry.get("a") if isinstance(entry, dict) else None
        if not (isinstance(text, str) and isinstance(answers, list) and _valid(text, answers)):
            raise ValueError(f"question {i + 1} is not {{'q': text, 'a': [answers]}}: {entry!r}")
        questions.append(Question(" ".join(text.split()), tuple(a.strip() for a in answers)))
    return questions


@functools.cache
def load_questions() -> tuple[Question, ...]:
    """The shipped questions, read once per process (at config parsing, before the reactor
    runs, so that no file is read on the reactor thread later)."""
    path = files("rosey.plugins").joinpath(*BANK_FILE)
    return tuple(parse_questions(json.loads(path.read_text(encoding="utf-8"))))
