"""systemd's notify protocol without libsystemd: ``READY=1``, ``STATUS=``, ``STOPPING=1``, watchdog.

The protocol is one datagram per notification, the ``KEY=value`` lines as payload, sent to the
``AF_UNIX`` socket named by ``$NOTIFY_SOCKET`` (a leading ``@`` means Linux's abstract namespace).
Everything here is a no-op when ``$NOTIFY_SOCKET`` is unset, so the daemon behaves the same under
``twistd -n`` in a terminal.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from twisted.application.service import Service
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

__all__ = ["SystemdNotifier", "sd_notify", "watchdog_interval"]

log = Logger(namespace="rosey.daemon.systemd")


def sd_notify(state: str, env: Mapping[str, str] = os.environ) -> bool:
    """Send ``state`` (e.g. ``"READY=1\\nSTATUS=joined"``) to ``$NOTIFY_SOCKET``.

    Returns True when the datagram was handed to the socket, False when there is no socket to
    notify or sending failed. Never blocks: a full socket queue counts as a failure.
    """
    address = env.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address[0] == "@":
        address = "\0" + address[1:]
    elif address[0] != "/":
        return False  # vsock: and other transports are not used by rosey's units
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode("utf-8"), socket.MSG_DONTWAIT, address)
    except OSError:
        return False
    return True


def watchdog_interval(env: Mapping[str, str] = os.environ) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings (half of ``$WATCHDOG_USEC``), or None for no watchdog.

    The watchdog is ours only when ``$WATCHDOG_PID`` is unset or names this process.
    """
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        period = int(usec)
    except ValueError:
        log.warn("ignoring WATCHDOG_USEC={usec!r}: not an integer", usec=usec)
        return None
    return period / 2_000_000 if period > 0 else None


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


class SystemdNotifier(Service):
    """Tells systemd how the daemon is doing; add it to the top ``MultiService`` last.

    Being the last child, it is the first one stopped, so ``STOPPING=1`` goes out as soon as the
    shutdown begins. While running it pings the watchdog when ``$WATCHDOG_USEC`` asks for it.
    """

    name = "systemd"

    def __init__(self, reactor: IReactorTime, env: Mapping[str, str] = os.environ) -> None:
        self._env = env
        self._clock = reactor
        self.enabled = bool(env.get("NOTIFY_SOCKET"))
        self.is_ready = False
        self.is_stopping = False
        self._watchdog: LoopingCall | None = None
        self._warned = False

    def _send(self, state: str) -> bool:
        if not self.enabled:
            return False
        sent = sd_notify(state, self._env)
        if not sent and not self._warned:
            self._warned = True  # once: a broken socket would otherwise log every ping
            log.warn("cannot notify systemd at {socket}", socket=self._env.get("NOTIFY_SOCKET"))
        return sent

    def ready(self, status: str | None = None) -> None:
        """``READY=1`` (and ``STATUS=status``) the first time; later calls only set the status."""
        if self.is_ready:
            if status is not None:
                self.status(status)
            return
        self.is_ready = True
        state = "READY=1" if status is None else f"READY=1\nSTATUS={_one_line(status)}"
        self._send(state)

    def status(self, text: str) -> None:
        """``STATUS=text``: the one line ``systemctl status`` shows."""
        self._send(f"STATUS={_one_line(text)}")

    def stopping(self) -> None:
        """``STOPPING=1``, once."""
        if not self.is_stopping:
            self.is_stopping = True
            self._send("STOPPING=1")

    def _ping(self) -> None:
        self._send("WATCHDOG=1")

    def startService(self) -> None:
        super().startService()
        interval = watchdog_interval(self._env) if self.enabled else None
        if interval is not None:
            self._watchdog = LoopingCall(self._ping)
            self._watchdog.clock = self._clock
            self._watchdog.start(interval, now=True)

    def stopService(self) -> None:
        self.stopping()
        if self._watchdog is not None and self._watchdog.running:
            self._watchdog.stop()
        self._watchdog = None
        super().stopService()
