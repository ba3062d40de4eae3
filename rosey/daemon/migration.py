"""The schema migrations of ``twistd rosey``, run in a child process before the reactor starts.

Alembic (with Mako and Pygments) and the dialects it registers take about 10 MB that a daemon
would otherwise keep for its whole life, for a job done once at start. So :func:`migrate_all`
runs ``python -m rosey.daemon.migration`` and waits for it: the child upgrades rosey's schema
(:func:`rosey.storage.migrate.upgrade`), then the plugins' own chains
(:mod:`rosey.daemon.plugin_migrations`), and answers one JSON line on stdout. The request (the
database URL may hold a password) goes through stdin, never the command line.

A failure is :class:`MigrationError` with the same one-line message the in-process migration
gives: ``database: …`` for rosey's schema, ``config error: database: plugin …`` for a plugin's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
    try:
        done = subprocess.run(
            [sys.executable, "-m", "rosey.daemon.migration"],
            input=request,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise MigrationError(f"database: cannot run the migration: {e}") from None
    answer = _answer(done.stdout)
    if done.returncode == 0 and answer is not None and "plugins" in answer:
        if done.stderr:  # warnings, as an in-process migration would have printed them
            sys.stderr.write(done.stderr)
        return {name: (b, a) for name, (b, a) in answer["plugins"].items()}
    if answer is not None and isinstance(answer.get("error"), str):
        raise MigrationError(answer["error"])
    last = [line for line in done.stderr.splitlines() if line.strip()][-1:]
    detail = f": {last[0].strip()}" if last else ""
    raise MigrationError(f"database: the migration process failed (exit {done.returncode}){detail}")


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
    """The child's work, in this process: ``{"plugins": {...}}`` or ``{"error": line}``."""
    from rosey.daemon.plugin_migrations import upgrade_plugins
    from rosey.storage import StorageError, migrate

    try:
        migrate.upgrade(url)
    except StorageError as e:
        return {"error": f"database: {e}"}
    if not plugins:
        return {"plugins": {}}
    try:
        done = upgrade_plugins(url, plugins)
    except StorageError as e:
        return {"error": f"config error: database: {e}"}
    return {"plugins": {name: list(revs) for name, revs in done.items()}}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rosey.daemon.migration``: a JSON request on stdin, a JSON answer on stdout."""
    request = json.loads(sys.stdin.read())
    answer = run_request(request["url"], request.get("plugins") or {})
    sys.stdout.write(json.dumps(answer) + "\n")
    return 1 if "error" in answer else 0


if __name__ == "__main__":
    raise SystemExit(main())
