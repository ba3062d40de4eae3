"""Per-user spam detection (sans-IO: the caller passes the time) and the strike ladder."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from rosey.plugins.moderation_config import SpamRules

__all__ = ["SpamDetector", "Strikes"]

_LINK = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_WORD = re.compile(r"[\w-]{1,20}", re.ASCII)


@dataclass(frozen=True, slots=True)
class _Line:
    at: float
    text: str
    links: int


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


class SpamDetector:
    """Remembers each user's recent lines and says which rule a new line breaks."""

    def __init__(self, rules: SpamRules) -> None:
        self.rules = rules
        self._lines: dict[str, deque[_Line]] = {}

    def check(self, user: str, text: str, now: float, names: Iterable[str] = ()) -> str | None:
        """Record ``user``'s line ``text`` said at ``now``; the broken rule's description, or
        None. ``names`` are the users in the channel (for mass mentions)."""
        r = self.rules
        key = user.casefold()
        lines = self._lines.setdefault(key, deque())
        while lines and lines[0].at <= now - r.window:
            lines.popleft()
        line = _Line(now, _norm(text), len(_LINK.findall(text)))
        lines.append(line)
        if r.max_messages and len(lines) > r.max_messages:
            return f"flooding ({len(lines)} messages in {r.window:g}s)"
        if r.max_repeats and sum(1 for x in lines if x.text == line.text) > r.max_repeats:
            return "repeating the same message"
        if r.max_links and line.links and sum(x.links for x in lines) > r.max_links:
            return "posting too many links"
        letters = [c for c in _LINK.sub("", text) if c.isalpha()]
        if len(letters) >= r.caps_min_letters and r.caps_ratio > 0:
            upper = sum(1 for c in letters if c.isupper())
            if upper / len(letters) >= r.caps_ratio:
                return "excessive caps"
        if r.max_mentions:
            present = {n.casefold() for n in names} - {key}
            mentioned = {w.casefold() for w in _WORD.findall(text)} & present
            if len(mentioned) > r.max_mentions:
                return f"mass mentions ({len(mentioned)} users)"
        return None

    def forget(self, user: str) -> None:
        """Drop what is remembered of ``user`` (after acting on them)."""
        self._lines.pop(user.casefold(), None)

    def expire(self, now: float) -> None:
        """Forget users with nothing said in the window (keeps memory bounded)."""
        for key in [
            k for k, v in self._lines.items() if not v or v[-1].at <= now - self.rules.window
        ]:
            del self._lines[key]


class Strikes:
    """Each user's recent strikes; a strike is forgotten ``decay`` seconds after it was given."""

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self._strikes: dict[str, list[float]] = {}

    def add(self, user: str, now: float) -> int:
        """Give ``user`` a strike; how many live strikes they have now (1 = first)."""
        key = user.casefold()
        live = [t for t in self._strikes.get(key, []) if t > now - self.decay]
        live.append(now)
        self._strikes[key] = live
        for other in [k for k, v in self._strikes.items() if v[-1] <= now - self.decay]:
            del self._strikes[other]
        return len(live)

    def count(self, user: str, now: float) -> int:
        """``user``'s live strikes."""
        return sum(1 for t in self._strikes.get(user.casefold(), []) if t > now - self.decay)
