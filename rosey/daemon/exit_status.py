"""Ending ``twistd rosey`` with a non-zero exit status after a normal, clean stop.

twistd has no exit-status mechanism: once the reactor stops, it removes the pid file, stops its
logger and returns, and the process exits 0 (its ``_exitSignal`` only re-raises a signal). So
:func:`stop_with_status` stops the reactor the ordinary way (every service's ``stopService``
runs in the "before shutdown" phase: the channels leave, storage flushes and closes) and, once
that shutdown is over, registers an ``atexit`` hook; registered last, it runs first when twistd
has finished, flushes the standard streams and ends the process with the status.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
from typing import Any

from twisted.internet.error import ReactorNotRunning


def stop_with_status(reactor: Any, status: int) -> None:
    """Stop ``reactor`` cleanly, then make the process exit with ``status``."""
    reactor.addSystemEventTrigger("after", "shutdown", atexit.register, _exit, status)
    with contextlib.suppress(ReactorNotRunning):  # already stopping (a SIGTERM): still exit 1
        reactor.stop()


def _exit(status: int) -> None:
    logging.shutdown()  # the hooks registered before this one do not run after os._exit
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or broken: nothing to add
            stream.flush()
    os._exit(status)
