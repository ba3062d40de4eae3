"""The markov plugin's model: markovify's chain over counts that grow one chat line at a time.

markovify builds a :class:`markovify.Chain` from a whole corpus, and its ``Text`` keeps that
corpus to rebuild from. A chat bot learns a line at a time, for months, so here the chain's
table (``{state: {next word: count}}``, markovify's own uncompiled model format) is the model
itself: :meth:`MarkovModel.learn` adds one line's transitions to it in place, and
:class:`LiveChain` (a ``markovify.Chain`` over that same dict) walks it with markovify's
``gen``/``walk``. Nothing is ever rebuilt; only the begin state's cumulative weights, which
markovify caches, are recomputed, lazily, after a line changed them.

Bounds. A learned line keeps at most :data:`MAX_LINE_WORDS` words; words longer than
:data:`MAX_WORD_LENGTH` characters, links and markovify's sentinel words are dropped. A state
keeps its :data:`MAX_FOLLOWERS` most frequent next words. When the table grows past
``max_states`` states, the rarest states (smallest total count) are dropped down to 90% of it.
Dropping states leaves dangling transitions, so :class:`LiveChain` ends a sentence where its
state is gone. A walk stops after ``max_words`` words whatever the chain says.

Saving. States are spread over :data:`SHARDS` shards by a stable hash (each shard's states are
indexed); every change marks its shard dirty, and :meth:`MarkovModel.dump_shard` serialises one
shard (a JSON list of ``[[word, …], {next: count}]``), so a save serialises and writes the
dirty shards one at a time and never holds the reactor for the whole model. Shards are
independent: a crash between two shard writes leaves a usable model.
"""

from __future__ import annotations

import bisect
import json
import random
import re
import unicodedata
import zlib
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

try:
    import markovify  # type: ignore[import-untyped]
    from markovify.chain import BEGIN, END, compile_next  # type: ignore[import-untyped]
except ImportError as e:  # an optional dependency: the plugin is skipped with this message
    raise ImportError(
        f"the markov plugin needs markovify: pip install 'rosey[markov]' ({e})"
    ) from e

from rosey.plugins.support import clean_text, utf16_len

__all__ = [
    "MAX_FOLLOWERS",
    "MAX_LINE_WORDS",
    "MAX_WORD_LENGTH",
    "MIN_LINE_WORDS",
    "SHARDS",
    "LiveChain",
    "MarkovModel",
    "tokenize",
]

#: Words kept from one learned line.
MAX_LINE_WORDS = 50
#: Lines with fewer words are not learned (single words make dull chains).
MIN_LINE_WORDS = 2
#: Longer "words" (spam, hashes) are dropped.
MAX_WORD_LENGTH = 40
#: Next words kept per state (the most frequent).
MAX_FOLLOWERS = 1000
#: Shards the saved model is spread over.
SHARDS = 64
#: Walks tried before giving up on a sentence.
TRIES = 10

State = tuple[str, ...]
Table = dict[State, dict[str, int]]

_LINK = re.compile(r"(?i)^(?:[a-z][a-z0-9+.-]*://|www\.)")
_SENTINELS = frozenset({BEGIN, END})
_HIDDEN = ("Cf", "Cs")
_KEEP_FORMAT = frozenset({"\u200d"})  # ZWJ holds emoji sequences together
_EDGE_PUNCT = ":,;.!?@'\"()[]<>"


def _visible(word: str) -> str:
    # Format characters (bidi overrides, zero-width spaces) can disguise text, and a lone
    # surrogate (valid in JSON, not in UTF-8) cannot be stored: drop both.
    return "".join(
        ch for ch in word if ch in _KEEP_FORMAT or unicodedata.category(ch) not in _HIDDEN
    )


def tokenize(text: str, drop: Iterable[str] = ()) -> list[str]:
    """The words of ``text`` as the model stores them (see the module docs for what is dropped).

    ``drop``: words to leave out, compared case-insensitively without edge punctuation
    (the bot's own name in ``rosey: hi``).
    """
    dropped = {d.casefold() for d in drop}
    words = []
    for raw in clean_text(text).split():
        word = _visible(raw)
        if (
            not word
            or len(word) > MAX_WORD_LENGTH
            or word in _SENTINELS
            or _LINK.match(word)
            or word.strip(_EDGE_PUNCT).casefold() in dropped
        ):
            continue
        words.append(word)
        if len(words) == MAX_LINE_WORDS:
            break
    return words


class LiveChain(markovify.Chain):  # type: ignore[misc]  # markovify ships no types
    """A ``markovify.Chain`` over a count table that grows in place.

    ``markovify.Chain.__init__`` would build the table from a corpus, so it is not called: the
    table is handed over as is and shared with :class:`MarkovModel`. ``rng`` makes walks
    reproducible. A state missing from the table (dropped as rare) ends the walk.
    """

    def __init__(self, state_size: int, model: Table, rng: random.Random) -> None:
        self.state_size = state_size
        self.model = model
        self.compiled = False
        self.rng = rng
        self.begin: State = (BEGIN,) * state_size
        self.begin_stale = True
        self.begin_choices: list[str] = []
        self.begin_cumdist: list[int] = []

    def precompute_begin_state(self) -> None:
        """Cache the begin state's choices (markovify does it once; here after each change)."""
        self.begin_choices, self.begin_cumdist = compile_next(self.model.get(self.begin, {}))
        self.begin_stale = False

    def move(self, state: State) -> str:
        """The next word after ``state``, drawn by count; ``END`` if the state is unknown."""
        if state == self.begin:
            if self.begin_stale:
                self.precompute_begin_state()
            choices, cumdist = self.begin_choices, self.begin_cumdist
        else:
            followers = self.model.get(state)
            if not followers:
                return str(END)
            choices, cumdist = compile_next(followers)
        if not choices:
            return str(END)
        r = self.rng.random() * cumdist[-1]
        return str(choices[bisect.bisect(cumdist, r)])


def shard_of(state: State) -> int:
    """The shard a state is saved in (stable across runs and Python versions)."""
    return zlib.crc32("\x1f".join(state).encode()) % SHARDS


class MarkovModel:
    """Word counts learned line by line, a markovify chain over them, sharded for saving.

    ``lines`` counts learned lines; ``transitions_added`` counts table updates (one per word
    and one for the end of each line), which tests use to see that learning is incremental.
    """

    def __init__(
        self, state_size: int = 2, max_states: int = 50_000, rng: random.Random | None = None
    ) -> None:
        if not 1 <= state_size <= 4:
            raise ValueError("state_size must be 1 to 4")
        if max_states < 10:
            raise ValueError("max_states must be at least 10")
        self.state_size = state_size
        self.max_states = max_states
        self.rng = rng or random.Random()
        self.table: Table = {}
        self.chain = LiveChain(state_size, self.table, self.rng)
        self.lines = 0
        self.transitions_added = 0
        self.pruned = 0
        self._dirty: set[int] = set()
        self._shards: list[set[State]] = [set() for _ in range(SHARDS)]

    def __len__(self) -> int:
        """Distinct states."""
        return len(self.table)

    # -- learning -------------------------------------------------------------------------------

    def learn(self, text: str, drop: Iterable[str] = ()) -> bool:
        """Learn one chat line; False when it has too few usable words."""
        words = tokenize(text, drop)
        if len(words) < MIN_LINE_WORDS:
            return False
        self.add_run(words)
        return True

    def add_run(self, words: Sequence[str]) -> None:
        """Add one run's transitions to the table (markovify's ``Chain.build`` for one run)."""
        k = self.state_size
        items = [BEGIN] * k + list(words) + [END]
        for i in range(len(words) + 1):
            state = tuple(items[i : i + k])
            follow = items[i + k]
            shard = shard_of(state)
            followers = self.table.get(state)
            if followers is None:
                followers = self.table[state] = {}
                self._shards[shard].add(state)
            followers[follow] = followers.get(follow, 0) + 1
            if len(followers) > MAX_FOLLOWERS:
                self._trim(followers)
            self._dirty.add(shard)
            self.transitions_added += 1
        self.chain.begin_stale = True
        self.lines += 1
        if len(self.table) > self.max_states:
            self.prune()

    @staticmethod
    def _trim(followers: dict[str, int]) -> None:
        keep = sorted(followers.items(), key=lambda kv: kv[1], reverse=True)
        keep = keep[: MAX_FOLLOWERS * 9 // 10]
        followers.clear()
        followers.update(keep)

    def prune(self) -> int:
        """Drop the rarest states down to 90% of ``max_states``; returns how many went."""
        target = self.max_states * 9 // 10
        excess = len(self.table) - target
        if excess <= 0:
            return 0
        begin = self.chain.begin
        ranked = sorted(
            (s for s in self.table if s != begin), key=lambda s: sum(self.table[s].values())
        )
        for state in ranked[:excess]:
            del self.table[state]
            shard = shard_of(state)
            self._shards[shard].discard(state)
            self._dirty.add(shard)
        self.pruned += min(excess, len(ranked))
        return min(excess, len(ranked))

    # -- generating -----------------------------------------------------------------------------

    def sentence(
        self, start: Sequence[str] = (), *, max_length: int = 200, max_words: int = 40
    ) -> str | None:
        """A sentence (at most ``max_length`` UTF-16 units), beginning with the words ``start``
        when given; None when the model knows nothing (that starts so)."""
        if not self.table:
            return None
        starts = self._starts([tuple(start)] if start else [()])
        return self._generate(starts, max_length, max_words)

    def reply(
        self, seeds: Sequence[str], *, max_length: int = 200, max_words: int = 40
    ) -> str | None:
        """A sentence starting with one of the words ``seeds`` if the model knows one, else any
        sentence; None when the model is empty."""
        if not self.table:
            return None
        starts = self._starts([(w,) for w in seeds]) if seeds else []
        if not starts:
            starts = self._starts([()])
        return self._generate(starts, max_length, max_words)

    def _starts(self, wanted: Sequence[State]) -> list[tuple[list[str], State]]:
        """Ways to begin: ``(words to print first, chain state to walk from)``.

        For each wanted beginning: the exact state, else the state of a line beginning with
        those words, else (one pass over the table, case-insensitive) any state ending with
        them.
        """
        k = self.state_size
        found: list[tuple[list[str], State]] = []
        scan: dict[State, list[str]] = {}
        for words in wanted:
            if not words:
                if self.table.get(self.chain.begin):
                    found.append(([], self.chain.begin))
                continue
            n = min(len(words), k)
            head, tail = list(words[:-n]), tuple(words[-n:])
            exact = (BEGIN,) * (k - n) + tail
            if self.table.get(exact):
                found.append(([*head, *tail], exact))
            else:
                scan[tuple(w.casefold() for w in tail)] = head
        if scan and not found:
            for state, followers in self.table.items():
                if not followers:
                    continue
                for tail, head in scan.items():
                    n = len(tail)
                    if BEGIN not in state[k - n :] and (
                        tuple(w.casefold() for w in state[k - n :]) == tail
                    ):
                        found.append(([*head, *state[k - n :]], state))
        return found

    def _generate(
        self, starts: list[tuple[list[str], State]], max_length: int, max_words: int
    ) -> str | None:
        if not starts:
            return None
        shortest: list[str] | None = None  # when every walk runs too long
        bare: list[str] | None = None  # a start that ends at once: only the given words
        for _ in range(TRIES):
            lead, state = self.rng.choice(starts)
            walked = list(islice(self.chain.gen(state), max(0, max_words - len(lead))))
            words = lead + walked
            if not walked:
                bare = bare or words
                continue
            if utf16_len(" ".join(words)) <= max_length:
                return " ".join(words)
            if shortest is None or len(words) < len(shortest):
                shortest = words
        chosen = shortest or bare
        if not chosen:
            return None
        text = " ".join(chosen)
        return text if utf16_len(text) <= max_length else _shorten(chosen, max_length)

    # -- saving ---------------------------------------------------------------------------------

    @property
    def dirty(self) -> frozenset[int]:
        """Shards changed since they were last dumped."""
        return frozenset(self._dirty)

    def mark_dirty(self, shards: Iterable[int] | None = None) -> None:
        """Mark shards (default: all) to be saved again (after a failed save)."""
        self._dirty.update(range(SHARDS) if shards is None else shards)

    def dump_shard(self, shard: int) -> str:
        """The JSON text of one shard, now; clears its dirty mark."""
        self._dirty.discard(shard)
        entries = [[list(state), self.table[state]] for state in self._shards[shard]]
        return json.dumps(entries, ensure_ascii=False, separators=(",", ":"))

    def take_dirty(self) -> dict[int, str]:
        """Every dirty shard's JSON text (see :meth:`dump_shard`)."""
        return {i: self.dump_shard(i) for i in sorted(self._dirty)}

    def manifest(self) -> str:
        """What goes with the shards: format version, state size, shard count, lines learned."""
        return json.dumps(
            {"version": 1, "state_size": self.state_size, "shards": SHARDS, "lines": self.lines}
        )

    def compatible(self, manifest: str | None) -> bool:
        """Whether shards saved under ``manifest`` can be loaded into this model (and, if so,
        takes the line count from it). A model saved with another state size cannot."""
        try:
            meta = json.loads(manifest) if manifest else None
        except ValueError:
            return False
        if not isinstance(meta, dict) or meta.get("version") != 1:
            return False
        if meta.get("state_size") != self.state_size or meta.get("shards") != SHARDS:
            return False
        lines = meta.get("lines")
        self.lines += lines if isinstance(lines, int) and lines >= 0 else 0
        return True

    def load_shard(self, text: str) -> int:
        """Add the counts of one saved shard; returns the states read. Entries of the wrong
        shape are skipped; a shard that is not JSON raises ``ValueError``."""
        data = json.loads(text)
        if not isinstance(data, list):
            raise ValueError("a shard is a JSON list")
        read = 0
        for entry in _valid_entries(data, self.state_size):
            state, followers = entry
            mine = self.table.get(state)
            if mine is None:
                mine = self.table[state] = {}
                self._shards[shard_of(state)].add(state)
            for word, count in followers.items():
                mine[word] = mine.get(word, 0) + count
            if len(mine) > MAX_FOLLOWERS:
                self._trim(mine)
            read += 1
        self.chain.begin_stale = True
        if len(self.table) > self.max_states:
            self.prune()
        return read


def _valid_entries(data: list[Any], k: int) -> Iterator[tuple[State, dict[str, int]]]:
    for entry in data:
        if not (isinstance(entry, list) and len(entry) == 2):
            continue
        state, followers = entry
        if not (
            isinstance(state, list)
            and len(state) == k
            and all(isinstance(w, str) for w in state)
            and isinstance(followers, dict)
        ):
            continue
        counts = {
            w: c
            for w, c in followers.items()
            if isinstance(c, int) and not isinstance(c, bool) and c > 0 and w != BEGIN
        }
        if counts:
            yield tuple(state), counts


def _shorten(words: list[str], max_length: int) -> str:
    """The words that fit in ``max_length`` UTF-16 units, with an ellipsis when cut."""
    text = ""
    for word in words:
        candidate = f"{text} {word}" if text else word
        if utf16_len(candidate) + 1 > max_length:
            break
        text = candidate
    if not text:  # one overlong word: cannot happen with MAX_WORD_LENGTH < max_length
        text = words[0][: max(1, max_length - 1)]
    return text + "…"
