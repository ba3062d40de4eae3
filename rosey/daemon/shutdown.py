"""Graceful shutdown on SIGTERM/SIGINT that ends with exit status 0.

Twisted's own handlers stop the reactor and then make ``twistd`` re-raise the signal, so the
process dies *by* SIGTERM. rosey's contract with operators (and systemd units without
``SuccessExitStatus=``) is "SIGTERM → leave cleanly, flush, exit 0", so once the reactor is
running rosey replaces those two handlers with ones that simply stop the reactor; the service
tree's ``stopService`` then does the clean-up.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any


def install_graceful_stop(reactor: Any) -> None:
    """After the reactor has started, make SIGTERM and SIGINT a plain ``reactor.stop()``."""

    def handler(signum: int, frame: FrameType | None) -> None:
        reactor.callFromThread(_stop, reactor, signal.Signals(signum).name)

    def install() -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, handler)

    reactor.callWhenRunning(install)


def _stop(reactor: Any, name: str) -> None:
    from twisted.logger import Logger

    Logger(namespace="rosey.daemon").info("received {signal}, shutting down", signal=name)
    if reactor.running:
        reactor.stop()
