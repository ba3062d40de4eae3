"""The real daemon under test: ``twistd --nodaemon --pidfile= rosey --config FILE``.

:class:`Daemon` writes a configuration with every service on (SQLite in a temporary directory,
metrics and ``/health``, the SSH manhole, chat and media log files, systemd notification with a
watchdog on a real datagram socket), starts twistd, and gives the orchestrator what it measures
from outside the process: ``/proc`` memory, ``/metrics`` counters and the SQLite file's rows.
"""

from __future__ import annotations

import contextlib
import re
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from bench.e2e import procs

TWISTD = Path(procs.PYTHON).with_name("twistd")
PASSWORD = "e2e-bench-pw"
_RECORDER = re.compile(r"recorder for (\S+) stopped: (\d+) events, (\d+) writes, (\d+) dropped")


@dataclass(frozen=True)
class Rows:
    """What the SQLite file holds."""

    chat: int
    joins: int
    leaves: int


def config_text(
    tmp: Path,
    sites: list[tuple[str, str]],
    metrics_port: int,
    ssh_port: int,
    database: str | None = None,
) -> str:
    """A TOML configuration with every service on; ``sites`` are (site URL, channel) pairs;
    ``database``: the ``[database]`` table's body (None: SQLite in ``tmp``)."""
    channels = "".join(
        f'[[channel]]\nsite = "{site}"\nname = "{name}"\nusername = "labbot"\n'
        'password_env = "ROSEY_PASSWORD"\n\n'
        for site, name in sites
    )
    return (
        channels
        + "[database]\n"
        + (f'url = "sqlite:///{tmp}/rosey.sqlite"\n' if database is None else database)
        + "\n"
        + '[bot]\ncommand_prefix = "!"\n\n'
        + f'[manhole]\nenabled = true\nlisten = "tcp:{ssh_port}:interface=127.0.0.1"\n'
        + f'authorized_keys = "{tmp}/authorized_keys"\nhost_key = "{tmp}/ssh_host_key"\n\n'
        + f'[metrics]\nenabled = true\nlisten = "tcp:{metrics_port}:interface=127.0.0.1"\n\n'
        + f'[logging]\nlevel = "info"\nformat = "text"\nchat_log = "{tmp}/chat.log"\n'
        + f'media_log = "{tmp}/media.log"\n'
    )


class Daemon:
    """One twistd rosey process in ``tmp`` (its own directory) joined to ``sites``.

    ``path``: directories put before the repository on the daemon's ``PYTHONPATH``, e.g. one
    holding a modified copy of ``rosey/`` for an A/B run of a change (``--daemon-path``).
    ``reactor``: twistd's ``--reactor`` (None: its default); ``extra_config``: TOML appended to
    the configuration (e.g. a ``[bus]`` table); ``database``: the ``[database]`` table's body
    instead of SQLite in ``tmp``; ``rows_from``: the SQLite file :meth:`rows` reads (default:
    the daemon's own), e.g. the database service's.
    """

    def __init__(
        self,
        tmp: Path,
        sites: list[tuple[str, str]],
        profile: Path | None = None,
        path: list[Path] | None = None,
        reactor: str | None = None,
        extra_config: str = "",
        database: str | None = None,
        rows_from: Path | None = None,
    ) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.tmp = tmp
        self.db = rows_from or tmp / "rosey.sqlite"
        self.log_path = tmp / "twistd.log"
        self.metrics_port = procs.free_port()
        (tmp / "authorized_keys").write_text("")
        config = tmp / "rosey.toml"
        config.write_text(
            config_text(tmp, sites, self.metrics_port, procs.free_port(), database) + extra_config
        )
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(tmp / "notify.sock"))
        self.notify.setblocking(False)
        self.notifications: list[str] = []
        argv = [str(TWISTD), "--nodaemon", "--pidfile="]
        if reactor is not None:
            argv.insert(1, f"--reactor={reactor}")
        if profile is not None:
            argv += [f"--profile={profile}", "--profiler=cprofile", "--savestats"]
        argv += ["rosey", "--config", str(config)]
        env = procs.environment(
            PYTHONPATH=":".join(str(p) for p in [*(path or []), procs.REPO]),
            ROSEY_PASSWORD=PASSWORD,
            NOTIFY_SOCKET=str(tmp / "notify.sock"),
            WATCHDOG_USEC="10000000",
        )
        self._log = self.log_path.open("wb")
        self.child = procs.Child("twistd rosey", argv, env=env, cwd=tmp, output=self._log)

    @property
    def pid(self) -> int:
        return self.child.pid

    def wait_ready(self, timeout: float) -> None:
        """Until systemd's ``READY=1`` arrives (every channel joined or retrying)."""
        deadline = time.monotonic() + timeout
        while not any("READY=1" in n for n in self._drain_notify()):
            if not self.child.alive():
                raise procs.BenchError(
                    f"twistd exited ({self.child.proc.returncode}):\n" + self.log_tail()
                )
            if time.monotonic() > deadline:
                raise procs.BenchError(f"no READY=1 within {timeout:g} s\n{self.log_tail()}")
            time.sleep(0.05)

    def _drain_notify(self) -> list[str]:
        while True:
            try:
                self.notifications.append(self.notify.recv(4096).decode())
            except BlockingIOError:
                return self.notifications

    def events_in(self) -> float | None:
        """The sum of ``rosey_events_in_total``, or None if /metrics did not answer."""
        try:
            return sum(procs.events_in(self.metrics_port, timeout=2.0).values())
        except OSError:
            return None

    def rows(self) -> Rows:
        """Chat lines and join/leave actions in the SQLite file (read-only, from outside)."""
        if not self.db.exists():
            return Rows(0, 0, 0)
        with contextlib.closing(
            sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        ) as db:
            try:
                chat = db.execute("SELECT count(*) FROM chat_messages").fetchone()[0]
                actions = dict(
                    db.execute(
                        "SELECT action_type, count(*) FROM user_actions GROUP BY action_type"
                    )
                )
            except sqlite3.OperationalError:  # not migrated yet (a database service starting)
                return Rows(0, 0, 0)
        return Rows(chat, actions.get("join", 0), actions.get("leave", 0))

    def has_chat(self, text: str) -> bool:
        with contextlib.closing(
            sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        ) as db:
            found = db.execute(
                "SELECT 1 FROM chat_messages WHERE message = ? LIMIT 1", (text,)
            ).fetchone()
        return found is not None

    def stop(self, timeout: float) -> tuple[int, float]:
        """SIGTERM; the exit status and the seconds it took."""
        start = time.monotonic()
        status = self.child.stop(timeout=timeout)
        return status, time.monotonic() - start

    def recorder_stats(self) -> list[tuple[str, int, int, int]]:
        """``(channel, events, writes, dropped)`` from each recorder's last log line."""
        return [
            (m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)))
            for m in _RECORDER.finditer(self.log_text())
        ]

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text("utf-8", "replace")

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def close(self) -> None:
        """Stop the process if it still runs; close the notify socket and the log."""
        if self.child.alive():
            with contextlib.suppress(procs.BenchError):
                self.child.stop(timeout=10)
        self.notify.close()
        self._log.close()
