"""Typed command arguments: declaration, conversion and the usage line.

An :class:`Arg` names one argument and its converter: any callable taking the word and returning
the value. On bad input it raises :class:`ArgumentError`, whose message is shown to the user, or
any ``ValueError``/``TypeError``, which gives a generic "bad <arg>" message. ``int`` and ``float``
are accepted and made strict (no ``1_000``, no ``nan``). The special converters :data:`Rest` (the
rest of the line, verbatim), :data:`UserName` (a CyTube user name) and :class:`Choice` cover the
usual cases.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "REQUIRED",
    "Arg",
    "ArgumentError",
    "Choice",
    "Rest",
    "UserName",
    "check_declaration",
    "parse_args",
    "usage",
]

Converter = Callable[[str], Any]


class ArgumentError(ValueError):
    """Bad command input; the message is shown to the user after the usage line."""


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: Default of an :class:`Arg` that must be given.
REQUIRED: Any = _Required()


def _rest(text: str) -> str:
    return text


#: Converter taking everything after the previous arguments, verbatim (must be the last Arg).
Rest: Converter = _rest

_USER_NAME = re.compile(r"[A-Za-z0-9_-]{1,20}")


def UserName(text: str) -> str:
    """A CyTube user name (``[A-Za-z0-9_-]{1,20}``); a leading ``@`` is dropped."""
    name = text[1:] if text.startswith("@") else text
    if not _USER_NAME.fullmatch(name):
        raise ArgumentError(f"{text!r} is not a user name")
    return name


class Choice:
    """Converter accepting one of ``options`` (case-insensitive); returns the declared spelling."""

    def __init__(self, *options: str) -> None:
        if not options:
            raise ValueError("Choice needs at least one option")
        self.options = options
        self.metavar = "|".join(options)

    def __call__(self, text: str) -> str:
        for option in self.options:
            if option.casefold() == text.casefold():
                return option
        raise ArgumentError(f"{text!r} is not one of {', '.join(self.options)}")


_INT = re.compile(r"[+-]?\d{1,30}")


def _int(text: str) -> int:
    if not _INT.fullmatch(text):
        raise ArgumentError(f"{text!r} is not a whole number")
    return int(text)


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ArgumentError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or "_" in text:
        raise ArgumentError(f"{text!r} is not a number")
    return value


_STRICT: dict[Any, Converter] = {int: _int, float: _float}
_METAVARS: dict[Any, str] = {int: "number", float: "number", UserName: "user"}


@dataclass(frozen=True, slots=True)
class Arg:
    """One declared argument. ``default`` other than :data:`REQUIRED` makes it optional.

    ``metavar`` is the placeholder in the usage line (default: the converter's ``metavar``
    attribute, or the argument's name).
    """

    name: str
    type: Converter = str
    default: Any = REQUIRED
    metavar: str | None = None
    help: str = ""

    @property
    def required(self) -> bool:
        """Whether the argument must be given."""
        return self.default is REQUIRED

    @property
    def rest(self) -> bool:
        """Whether it takes the rest of the line."""
        return self.type is Rest

    def placeholder(self) -> str:
        """How the argument appears in a usage line: ``<x>``, ``[x]``, ``<x...>``."""
        label = self.metavar or getattr(self.type, "metavar", None) or _METAVARS.get(self.type)
        label = label or self.name
        if self.rest:
            label += "..."
        return f"<{label}>" if self.required else f"[{label}]"

    def convert(self, text: str) -> Any:
        """The value for the word ``text``; raises :class:`ArgumentError`."""
        converter = _STRICT.get(self.type, self.type)
        try:
            return converter(text)
        except ArgumentError:
            raise
        except (ValueError, TypeError, ArithmeticError):
            # Python's own messages ("invalid literal for int() …") are not for chat users.
            raise ArgumentError(f"bad {self.placeholder()}: {text!r}") from None


def check_declaration(args: Sequence[Arg]) -> None:
    """Raise ``ValueError`` for an impossible declaration (rest not last, required after
    optional, duplicate names)."""
    names = [a.name for a in args]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate argument names in {names}")
    for i, arg in enumerate(args):
        if arg.rest and i != len(args) - 1:
            raise ValueError(f"Rest argument {arg.name!r} must be the last one")
        if arg.required and any(not a.required for a in args[:i]):
            raise ValueError(f"required argument {arg.name!r} follows an optional one")


def usage(invocation: str, args: Sequence[Arg]) -> str:
    """The usage line, e.g. ``!roll [NdM±K]``."""
    return " ".join([invocation, *(a.placeholder() for a in args)])


def parse_args(args: Sequence[Arg], text: str) -> dict[str, Any]:
    """Convert the text after the command name into ``{name: value}``.

    Words are separated by whitespace; a :data:`Rest` argument takes the remaining text as is
    (stripped). Missing optional arguments get their defaults. Raises :class:`ArgumentError`.
    """
    values: dict[str, Any] = {}
    rest = text.strip()
    for arg in args:
        if not rest:
            if arg.required:
                raise ArgumentError(f"missing {arg.placeholder()}")
            values[arg.name] = arg.default
            continue
        if arg.rest:
            word, rest = rest, ""
        else:
            word, rest = _next_word(rest)
        values[arg.name] = arg.convert(word)
    if rest:
        raise ArgumentError(f"unexpected {rest.split()[0]!r}")
    return values


def _next_word(text: str) -> tuple[str, str]:
    parts = text.split(None, 1)
    return parts[0], (parts[1] if len(parts) > 1 else "")
