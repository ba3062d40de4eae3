"""The schema migrations of ``twistd rosey``, run in a child process before the reactor starts.

Alembic (with Mako and Pygments) and the dialects it registers take memory that a daemon
would otherwise keep for its whole life, for a job done once at start. So :func:`migrate_all`
runs ``python -m rosey.daemon.schema_child`` and waits for it: the child upgrades rosey's schema
(:func:`rosey.storage.schema.upgrade`), then the plugins' own chains
(:mod:`rosey.daemon.plugin_schema`), and answers one JSON line on stdout. The request (the
database URL may hold a password) goes through stdin, never the command line. The child holds
the database's migration lock (:mod:`rosey.storage.schema_lock`) around both, so daemons
starting together on one database migrate it one after the other; what the child says on
stderr (such as that it waits for that lock) is passed on at once.

A failure is :class:`MigrationError` with the same one-line message the in-process migration
gives: ``database: …`` for rosey's schema, ``config error: database: plugin …`` for a plugin's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["MigrationError", "migrate_all", "run_request"]

Upgrades = dict[str, tuple[str | None, str | None]]


class MigrationError(Exception):
    """The migration failed; ``str()`` is the one line for the operator."""


def migrate_all(url: str, plugins: Mapping[str, str], *, timeout: float | None = None) -> Upgrades:
    """Migrate rosey's schema, then each plugin's (name -> versions folder), in a child process.

    Returns plugin name -> (revision before, revision after). Raises :class:`MigrationError`.
    """
    request = json.dumps({"url": url, "plugins": dict(plugins)})
    env = dict(os.environ)
    # The child imports what this process can: rosey itself and the plugins' folders.
    env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) if p else os.getcwd() for p in sys.path)
    read_end, write_end = os.pipe()
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "rosey.daemon.schema_child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=write_end,
            text=True,
            env=env,
        )
    except OSError as e:
        os.close(read_end)
        raise MigrationError(f"database: cannot run the migration: {e}") from None
    finally:
        os.close(write_end)
    said: list[str] = []
    relay = threading.Thread(target=_relay, args=(read_end, said), daemon=True)
    relay.start()
    try:
        stdout, _ = child.communicate(request, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        child.kill()
        child.communicate()
        raise MigrationError(f"database: cannot run the migration: {e}") from None
    finally:
        relay.join()
    done = subprocess.CompletedProcess(child.args, child.returncode, stdout, "".join(said))
    answer = _answer(done.stdout)
    if done.returncode == 0 and answer is not None and "plugins" in answer:
        return {name: (b, a) for name, (b, a) in answer["plugins"].items()}
    if answer is not None and isinstance(answer.get("error"), str):
        raise MigrationError(answer["error"])
    last = [line for line in done.stderr.splitlines() if line.strip()][-1:]
    detail = f": {last[0].strip()}" if last else ""
    raise MigrationError(f"database: the migration process failed (exit {done.returncode}){detail}")


def _relay(fd: int, said: list[str]) -> None:
    """Pass the child's stderr on line by line as it comes (keeping it in ``said``)."""
    with open(fd, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            said.append(line)
            sys.stderr.write(line)
            sys.stderr.flush()


def _answer(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def run_request(url: str, plugins: Mapping[str, str]) -> dict[str, Any]:
    """The child's work, in this process: ``{"rosey": [before, after], "plugins": {...}}`` or
    ``{"error": line}``."""
    from rosey.storage import StorageError
    from rosey.storage.schema_lock import migration_lock

    try:
        with migration_lock(url):
            return _upgrade_all(url, plugins)
    except StorageError as e:  # the lock itself
        return {"error": f"database: {e}"}


def _upgrade_all(url: str, plugins: Mapping[str, str]) -> dict[str, Any]:
    from rosey.daemon.plugin_schema import upgrade_plugins
    from rosey.storage import StorageError, schema

    try:
        rosey = schema.upgrade(url)
    except StorageError as e:
        return {"error": f"database: {e}"}
    done = {}
    if plugins:
        try:
            done = upgrade_plugins(url, plugins)
        except StorageError as e:
            return {"error": f"config error: database: {e}"}
    return {"rosey": list(rosey), "plugins": {name: list(revs) for name, revs in done.items()}}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rosey.daemon.schema_child``: a JSON request on stdin, a JSON answer on stdout."""
    request = json.loads(sys.stdin.read())
    answer = run_request(request["url"], request.get("plugins") or {})
    sys.stdout.write(json.dumps(answer) + "\n")
    return 1 if "error" in answer else 0


if __name__ == "__main__":
    raise SystemExit(main())
