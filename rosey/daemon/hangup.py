"""SIGHUP: reopen the log files (after logrotate moved them away), nothing else.

Without a handler SIGHUP kills the process (exit 129, no leave, no flush). Like the SIGTERM
handler (:mod:`rosey.daemon.shutdown`) this one is installed once the reactor runs and only
hands the work to the reactor thread: a signal handler may interrupt the reactor anywhere.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

from twisted.logger import Logger

log = Logger(namespace="rosey.daemon")


def install_reopen_on_hangup(reactor: Any, reopen: Callable[[], int]) -> None:
    """After the reactor has started, make SIGHUP call ``reopen()`` (which returns how many
    files it reopened) on the reactor thread and log one line."""

    def handler(signum: int, frame: FrameType | None) -> None:
        reactor.callFromThread(_reopen, reopen)

    reactor.callWhenRunning(signal.signal, signal.SIGHUP, handler)


def _reopen(reopen: Callable[[], int]) -> None:
    try:
        count = reopen()
    except Exception:
        log.failure("received SIGHUP, reopening the log files failed")
        return
    log.info("received SIGHUP, reopened {count} log files", count=count)
