"""The ``fun`` plugin's quote book: ``!quote add|get|random|search|del``.

Storage layout (in the plugin's key/value namespace)::

    quote:next      -> 13                                   the next id (ids are never reused)
    quote:page:<p>  -> [[id, text, author, added], ...]     ids p*50+1 .. p*50+50, by id

Fifty quotes to a key keep loading cheap (one read per page, not per quote) and a change rewrites
one small value. The whole book is held in memory for ``random`` and ``search``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from rosey.api import Arg, Command, CommandContext, IKeyValue, Rest, command, rank_name
from rosey.plugins.support import KvWriter, Loader, ago, clean_text, dump, load_json, safe_replies

__all__ = ["PAGE_SIZE", "Quote", "QuoteBook", "QuoteCommand", "QuoteRules"]

log = Logger()

PAGE_SIZE = 50
NEXT_KEY = "quote:next"
UNAVAILABLE = "Sorry, my quote book is not available right now."
_ID = re.compile(r"#?([0-9]{1,9})")


def page_key(page: int) -> str:
    """The key holding page ``page``."""
    return f"quote:page:{page}"


def _page_of(quote_id: int) -> int:
    return (quote_id - 1) // PAGE_SIZE


def _quote_id(text: str) -> int | None:
    match = _ID.fullmatch(text.strip())
    return int(match[1]) if match and int(match[1]) > 0 else None


@dataclass(frozen=True, slots=True)
class Quote:
    """One quote; ``added`` is Unix seconds."""

    id: int
    text: str
    author: str
    added: float

    def row(self) -> list[Any]:
        """The stored form."""
        return [self.id, self.text, self.author, self.added]

    @classmethod
    def from_row(cls, row: object) -> Quote | None:
        """The quote a stored row describes, or None if it is not one."""
        if not isinstance(row, list) or len(row) != 4:
            return None
        qid, text, author, added = row
        if isinstance(qid, bool) or not isinstance(qid, int) or qid < 1:
            return None
        if not isinstance(text, str) or not isinstance(author, str):
            return None
        if isinstance(added, bool) or not isinstance(added, (int, float)):
            return None
        return cls(qid, text, author, float(added))


class QuoteBook:
    """The quotes, in memory and in the plugin's key/value store (see the module docs)."""

    def __init__(self, kv: IKeyValue, writer: KvWriter) -> None:
        self._kv = kv
        self._writer = writer
        self.quotes: dict[int, Quote] = {}
        self.next_id = 1
        self.loader = Loader(self._load, f"{kv.namespace} quotes")

    async def _load(self) -> None:
        counter = await load_json(self._kv, NEXT_KEY)
        next_id = counter if isinstance(counter, int) and not isinstance(counter, bool) else 1
        quotes: dict[int, Quote] = {}
        page = 0
        # Every page up to the counter's, then on while pages exist (a counter write lost).
        while True:
            rows = await load_json(self._kv, page_key(page))
            if rows is None and page > _page_of(max(1, next_id - 1)):
                break
            for row in rows if isinstance(rows, list) else []:
                quote = Quote.from_row(row)
                if quote is None or _page_of(quote.id) != page:
                    log.warn(
                        "quotes: ignoring a bad row on page {page}: {row!r}", page=page, row=row
                    )
                    continue
                quotes[quote.id] = quote
            page += 1
        self.quotes = quotes
        self.next_id = max(next_id, max(quotes, default=0) + 1)

    def __len__(self) -> int:
        return len(self.quotes)

    def get(self, quote_id: int) -> Quote | None:
        """The quote with that id, if any."""
        return self.quotes.get(quote_id)

    def find_text(self, text: str) -> Quote | None:
        """A quote with the same text (case and spacing aside), if any."""
        wanted = " ".join(text.split()).casefold()
        for quote in self.quotes.values():
            if " ".join(quote.text.split()).casefold() == wanted:
                return quote
        return None

    def search(self, words: list[str]) -> list[Quote]:
        """Quotes containing every word (case-insensitive), by id."""
        folded = [w.casefold() for w in words]
        return [
            q for _, q in sorted(self.quotes.items()) if all(w in q.text.casefold() for w in folded)
        ]

    def random(self, rng: random.Random) -> Quote | None:
        """A quote chosen uniformly, or None when there is none."""
        if not self.quotes:
            return None
        return self.quotes[rng.choice(sorted(self.quotes))]

    async def add(self, text: str, author: str, now: float) -> tuple[Quote, bool]:
        """Add a quote with the next id; returns it and whether it was saved. The book must be
        loaded (``await loader.ensure()``): a load finishing later would replace it."""
        if not self.loader.loaded:
            raise RuntimeError("the quote book is not loaded")
        quote = Quote(self.next_id, text, author, now)
        self.next_id += 1
        self.quotes[quote.id] = quote
        counted = self._writer.save(NEXT_KEY, lambda: (dump(self.next_id), None))
        saved = self._save_page(_page_of(quote.id))
        counted_ok, saved_ok = await counted, await saved
        return quote, counted_ok and saved_ok

    async def delete(self, quote_id: int) -> bool:
        """Remove a quote (which must exist); returns whether that was saved."""
        if not self.loader.loaded:
            raise RuntimeError("the quote book is not loaded")
        del self.quotes[quote_id]
        return await self._save_page(_page_of(quote_id))

    def _save_page(self, page: int) -> Deferred[bool]:
        def render() -> tuple[str | None, float | None]:
            first = page * PAGE_SIZE + 1
            rows = [q.row() for i in range(first, first + PAGE_SIZE) if (q := self.quotes.get(i))]
            return (dump(rows) if rows else None), None

        return self._writer.save(page_key(page), render)


@dataclass(frozen=True, slots=True)
class QuoteRules:
    """The quote book's limits (from the plugin config)."""

    max_length: int = 300
    max_quotes: int = 10_000
    add_rank: float = 0
    delete_rank: float = 2


class QuoteCommand:
    """``!quote``; ``rng`` is called for the randomness at each use (tests swap it);
    ``max_length`` is the longest line the bot sends (a long quote is split)."""

    def __init__(
        self,
        book: QuoteBook,
        rules: QuoteRules,
        clock: IReactorTime,
        rng: Callable[[], random.Random],
        max_length: int,
    ) -> None:
        self.book = book
        self._max_length = max_length
        self.rules = rules
        self._clock = clock
        self._rng = rng

    def command(self) -> Command:
        """The declared command."""
        return command(
            "quote",
            args=[
                Arg("action", default=None, metavar="add|get|random|search|del"),
                Arg("rest", Rest, default=None, metavar="text|id|words"),
            ],
            cooldown_user=3,
            help=(
                "Quotes: quote add <text>, quote <id>, quote random, quote search <words>, "
                "quote del <id>."
            ),
        )(safe_replies(self.run, self._max_length))

    async def run(self, ctx: CommandContext) -> str | None:
        action: str = (ctx.args["action"] or "random").lower()
        rest: str = ctx.args["rest"] or ""
        if _quote_id(action) is not None and not rest:
            action, rest = "get", action
        handlers = {
            "add": self._add,
            "get": self._get,
            "random": self._random,
            "search": self._search,
            "find": self._search,
            "del": self._delete,
            "delete": self._delete,
            "remove": self._delete,
        }
        handler = handlers.get(action)
        if handler is None:
            return self._usage(ctx)
        if not await self.book.loader.ensure():
            return UNAVAILABLE
        return await handler(ctx, rest)

    def _usage(self, ctx: CommandContext) -> str:
        q = ctx.invocation
        return f"Usage: {q} add <text> | {q} <id> | {q} random | {q} search <words> | {q} del <id>"

    def _show(self, quote: Quote) -> str:
        when = ago(self._clock.seconds() - quote.added)
        return f"Quote #{quote.id}: {quote.text} ({quote.author}, {when})"

    async def _add(self, ctx: CommandContext, rest: str) -> str | None:
        text, rules = clean_text(rest), self.rules
        if not text:
            return self._usage(ctx)
        if ctx.rank < rules.add_rank:
            return "Sorry, adding quotes needs a higher rank."
        if len(text) > rules.max_length:
            return f"That's {len(text):,} characters; a quote takes at most {rules.max_length}."
        same = self.book.find_text(text)
        if same is not None:
            return f"That's already quote #{same.id}."
        if len(self.book) >= rules.max_quotes:
            return f"The quote book is full ({rules.max_quotes:,} quotes)."
        quote, saved = await self.book.add(text, ctx.user, self._clock.seconds())
        if not saved:
            return f"Quote #{quote.id} added, but not saved yet: my records are unavailable."
        return f"Quote #{quote.id} added."

    async def _get(self, ctx: CommandContext, rest: str) -> str | None:
        quote_id = _quote_id(rest)
        if quote_id is None:
            return self._usage(ctx)
        quote = self.book.get(quote_id)
        if quote is None:
            return f"There is no quote #{quote_id}."
        return self._show(quote)

    async def _random(self, ctx: CommandContext, rest: str) -> str | None:
        quote = self.book.random(self._rng())
        if quote is None:
            return f"No quotes yet. Add one: {ctx.invocation} add <text>"
        return self._show(quote)

    async def _search(self, ctx: CommandContext, rest: str) -> str | None:
        words = [w[:50] for w in clean_text(rest).split()[:10]]
        if not words:
            return self._usage(ctx)
        found = self.book.search(words)
        if not found:
            return "No quote matches that."
        if len(found) == 1:
            return self._show(found[0])
        ids = ", ".join(f"#{q.id}" for q in found[:15])
        more = f" and {len(found) - 15:,} more" if len(found) > 15 else ""
        return f"{len(found):,} quotes match: {ids}{more}. Say {ctx.invocation} <id> to read one."

    async def _delete(self, ctx: CommandContext, rest: str) -> str | None:
        quote_id = _quote_id(rest)
        if quote_id is None:
            return self._usage(ctx)
        quote = self.book.get(quote_id)
        if quote is None:
            return f"There is no quote #{quote_id}."
        if ctx.rank < self.rules.delete_rank and quote.author.casefold() != ctx.user.casefold():
            who = rank_name(self.rules.delete_rank)
            return f"Sorry, only {quote.author} or a {who} can delete quote #{quote_id}."
        if not await self.book.delete(quote_id):
            return f"Quote #{quote_id} deleted, but not saved yet: my records are unavailable."
        return f"Quote #{quote_id} deleted."
