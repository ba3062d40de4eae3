"""What the ``llm`` plugin tells the model: the persona and the recent public chat
(:class:`ChatContext`, :func:`build_messages`).

Only public chat lines are kept (never a PM: a PM question is asked on its own, after the
public lines), at most ``context_lines`` of them, and the messages sent hold at most
``context_chars`` characters of them, the newest kept. Users who opted out are filtered when the
messages are built, so an opt-out covers what they said before it too. The API key is never
part of any of this: it only travels in the request's ``Authorization`` header.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ChatContext", "Line", "build_messages"]

_MAX_LINE = 400  # characters of one chat line kept for context


@dataclass(frozen=True, slots=True)
class Line:
    """One public chat line: who said it (``own``: the bot itself) and what."""

    user: str
    text: str
    own: bool = False


class ChatContext:
    """The last ``size`` public chat lines, oldest first."""

    def __init__(self, size: int) -> None:
        self._lines: deque[Line] = deque(maxlen=max(size, 1))
        self.size = size

    def add(self, user: str, text: str, *, own: bool = False) -> None:
        """Remember a public line (cut to a few hundred characters)."""
        if self.size > 0:
            self._lines.append(Line(user, text[:_MAX_LINE], own))

    def forget(self, user: str) -> None:
        """Drop every line ``user`` said (they opted out)."""
        key = user.casefold()
        kept = [line for line in self._lines if line.own or line.user.casefold() != key]
        self._lines.clear()
        self._lines.extend(kept)

    def lines(self, allowed: Callable[[str], bool], max_chars: int) -> list[Line]:
        """The kept lines whose speaker is ``allowed``, newest ones fitting ``max_chars``."""
        chosen: list[Line] = []
        used = 0
        for line in reversed(self._lines):
            if not line.own and not allowed(line.user):
                continue
            cost = len(line.user) + len(line.text) + 2
            if used + cost > max_chars:
                break
            chosen.append(line)
            used += cost
        chosen.reverse()
        return chosen

    def __len__(self) -> int:
        return len(self._lines)


def build_messages(
    persona: str, own_name: str, lines: list[Line], asker: str, question: str, *, private: bool
) -> list[dict[str, Any]]:
    """The chat-completions ``messages``: the persona as the system message, the recent lines
    as one transcript, then the question (``question`` empty: join the conversation)."""
    system = persona.replace("{name}", own_name or "the bot")
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    if lines:
        transcript = "\n".join(
            f"{own_name if line.own else line.user}: {line.text}" for line in lines
        )
        messages.append({"role": "user", "content": f"Recent chat in the channel:\n{transcript}"})
    if not question:
        ask = "Add one short line to this conversation, in character."
    elif private:
        ask = f"{asker} asks you in a private message: {question}"
    else:
        ask = f"{asker} says to you: {question}"
    messages.append({"role": "user", "content": ask})
    return messages
