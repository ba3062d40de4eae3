"""``rosey db …``: schema migrations, retention and the legacy import, from the command line.

``add_db_parser(subparsers)`` adds the ``db`` command to a program's argparse subparsers (the
``rosey`` entry point does); ``run_db_command(args)`` runs it and returns the exit status.
``python -m rosey.storage.cli db …`` works on its own. Every failure is one line on stderr and
exit status 1. The database URL comes from ``--url``, else ``$ROSEY_DATABASE_URL``, else
``sqlite:///rosey.sqlite``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import TextIO, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from rosey.storage import legacy, retention, schema
from rosey.storage.engine import make_engine, safe_url
from rosey.storage.errors import StorageError

T = TypeVar("T")


def add_db_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add ``db upgrade|downgrade REV|current|history|prune|import-legacy PATH --channel NAME``;
    return
    the ``db`` parser. ``--config`` is parsed here but resolved by the caller (rosey.cli): the
    storage layer does not read the daemon's configuration."""
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_mutually_exclusive_group()
    where.add_argument(
        "--url",
        help="database URL (default: $ROSEY_DATABASE_URL, else sqlite:///rosey.sqlite)",
    )
    where.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="take the database from rosey's TOML configuration (its URL from the "
        "environment, a file or systemd credentials; the chat passwords are not needed); "
        "`upgrade` also migrates the plugins enabled there",
    )
    db = subparsers.add_parser("db", help="manage rosey's database")
    db.set_defaults(func=run_db_command)
    sub = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    up = sub.add_parser("upgrade", parents=[common], help="upgrade the schema (default: head)")
    up.add_argument("revision", nargs="?", default="head")
    down = sub.add_parser("downgrade", parents=[common], help="downgrade the schema to REV")
    down.add_argument("revision", metavar="REV", help="a revision id, or 'base' for empty")
    sub.add_parser("current", parents=[common], help="show the database's schema revision")
    sub.add_parser("history", parents=[common], help="list the schema revisions")
    serve = sub.add_parser(
        "serve",
        help="run the database service in the foreground, fed by the event bus "
        "(twistd --reactor=asyncio -n rosey-db)",
    )
    serve.add_argument("--config", "-c", default="rosey.toml", help="the TOML configuration")
    prune = sub.add_parser(
        "prune",
        parents=[common],
        help="delete history older than [database.retention] keeps (rosey's defaults "
        "without --config) and expired plugin values",
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="count what would be deleted; delete nothing"
    )
    prune.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="rows deleted per transaction (default: [database.retention] batch_size)",
    )
    # Filled by rosey.cli from the daemon's configuration (storage does not read it).
    prune.set_defaults(policy=None, default_batch_size=500)
    imp = sub.add_parser(
        "import-legacy", parents=[common], help="import a Rosey-Robot v1 SQLite database"
    )
    imp.add_argument("path", metavar="PATH", help="the old bot's SQLite database file")
    imp.add_argument("--channel", required=True, help="the channel its data belongs to")
    return db


def run_db_command(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run a parsed ``db`` command; return the exit status. Output goes to ``out`` and
    ``err`` (default: the current ``sys.stdout`` / ``sys.stderr``)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    url = args.url or schema.default_url()
    try:
        if args.db_command == "upgrade":
            before, after = schema.upgrade(url, args.revision)
            _moved(out, url, before, after)
        elif args.db_command == "downgrade":
            before, after = schema.downgrade(url, args.revision)
            _moved(out, url, before, after)
        elif args.db_command == "current":
            _current(out, url)
        elif args.db_command == "history":
            for rev in schema.history():
                down = rev.down_revision or "<base>"
                head = " (head)" if rev.is_head else ""
                out.write(f"{down} -> {rev.revision}{head}: {rev.doc.splitlines()[0]}\n")
        elif args.db_command == "prune":
            _prune(out, err, url, args)
        elif args.db_command == "import-legacy":
            _import(out, err, url, args.path, args.channel)
        else:  # pragma: no cover - argparse enforces the choices
            raise StorageError(f"unknown db command {args.db_command!r}")
    except (StorageError, OSError) as e:
        err.write(f"rosey db {args.db_command}: error: {_one_line(e)}\n")
        return 1
    return 0


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _moved(out: TextIO, url: str, before: str | None, after: str | None) -> None:
    where = safe_url(url)
    if before == after:
        out.write(f"{where}: already at {after or '<base>'}\n")
    else:
        out.write(f"{where}: {before or '<base>'} -> {after or '<base>'}\n")


def _current(out: TextIO, url: str) -> None:
    rev = schema.current(url)
    known = {r.revision: r for r in schema.history()}
    if rev is None:
        note = "empty (run `rosey db upgrade`)"
    elif rev not in known:
        note = "newer than this rosey"
    elif known[rev].is_head:
        note = "head"
    else:
        note = f"behind head {schema.head()}"
    out.write(f"{rev or '<base>'} ({note})\n")


def _prune(out: TextIO, err: TextIO, url: str, args: argparse.Namespace) -> None:
    """Prune by the policy ``args.policy`` (table -> days to keep), or count with --dry-run."""
    if args.policy is None:
        raise StorageError("no retention policy: run it as `rosey db prune`")
    batch_size = args.default_batch_size if args.batch_size is None else args.batch_size
    if batch_size < 1:
        raise StorageError(f"--batch-size {batch_size} is not a positive number of rows")
    at = schema.current(url)  # never creates a SQLite file
    if at != schema.head():
        raise StorageError(
            f"database {safe_url(url)} is at {at or '<base>'}, not {schema.head()}: "
            "run `rosey db upgrade` first"
        )
    engine = make_engine(url)
    try:
        run = retention.blocking(engine)
        now = time.time()
        todo = _done(retention.count(run, args.policy, now))
        if args.dry_run:
            _report(out, f"would delete from {safe_url(url)}", todo, args.policy)
            return
        bar = progress_bar(sum(todo.values()), err, "pruning")
        try:
            gone = _done(retention.prune(run, args.policy, now, batch_size, bar))
        finally:
            if bar is not None:
                bar.close()
        _report(out, f"deleted from {safe_url(url)}", gone, args.policy)
    except SQLAlchemyError as e:
        orig = getattr(e, "orig", None) or e
        raise StorageError(f"database {safe_url(url)}: {_one_line(orig)}") from e
    finally:
        engine.dispose()


def _done(d: Deferred[T]) -> T:
    """The result of a Deferred that has fired (a :func:`retention.blocking` run)."""
    results: list[T | Failure] = []
    d.addBoth(results.append)
    (result,) = results
    if isinstance(result, Failure):
        result.raiseException()
    return result


def _report(out: TextIO, title: str, counts: dict[str, int], policy: dict[str, float]) -> None:
    out.write(f"{title}:\n")
    for table, n in counts.items():
        days = policy.get(table, 0)
        if table == retention.EXPIRED:
            why = "expired plugin values"
        elif days:
            why = f"older than {days:g} days"
        else:
            why = "kept forever"
        out.write(f"  {table}: {n} ({why})\n")


def progress_bar(total: int, stream: TextIO, label: str) -> ProgressBar | None:
    """A :class:`ProgressBar` if ``stream`` is a terminal, else None (no ``\\r`` in a log)."""
    isatty = getattr(stream, "isatty", None)
    return ProgressBar(total, stream, label=label) if isatty is not None and isatty() else None


class ProgressBar:
    """A one-line progress bar on a stream, redrawn at most every ``interval`` seconds."""

    def __init__(
        self,
        total: int,
        stream: TextIO,
        width: int = 30,
        interval: float = 0.1,
        label: str = "importing",
    ) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.label = label
        self.width = width
        self.interval = interval
        self._done_before: dict[str, int] = {}
        self._last = 0.0

    def __call__(self, table: str, rows_done: int) -> None:
        self._done_before[table] = rows_done
        now = time.monotonic()
        done = sum(self._done_before.values())
        if now - self._last < self.interval and done < self.total:
            return
        self._last = now
        filled = int(self.width * min(done, self.total) / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} rows ({table})")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        self.stream.write("\n")
        self.stream.flush()


def _import(out: TextIO, err: TextIO, url: str, path: str, channel: str) -> None:
    source = legacy.open_legacy(path)
    try:
        total = sum(legacy.count_rows(source).values())
    finally:
        source.close()
    schema.upgrade(url)
    bar = ProgressBar(total, err)
    try:
        report = legacy.import_legacy(path, url, channel, progress=bar)
    finally:
        bar.close()
    out.write(f"imported {path} into {safe_url(url)} for channel {channel}:\n")
    for t in report.tables:
        out.write(
            f"  {t.name}: {t.read} read, {t.imported} imported, {t.merged} merged, "
            f"{t.present} already present"
            + (f", {t.invalid} invalid rows skipped" if t.invalid else "")
            + "\n"
        )
        if t.skipped_columns:
            out.write(f"    skipped columns: {', '.join(t.skipped_columns)}\n")
    for name, reason in report.skipped_tables:
        out.write(f"  {name}: skipped ({reason})\n")
    for name in report.missing_tables:
        out.write(f"  {name}: not in the file\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rosey.storage.cli db …``."""
    parser = argparse.ArgumentParser(prog="rosey")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_db_parser(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
