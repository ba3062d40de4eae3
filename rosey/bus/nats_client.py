"""What every nats-py connection of rosey's shares: the connect options from ``[bus]``
(credentials, TLS verified, reconnecting for ever), the state for ``/health``, and error
lines that never repeat more than once a minute nor show a password."""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nats
from twisted.logger import Logger
from twisted.python.failure import Failure

from rosey.bus import interface
from rosey.bus.settings import BusSettings

log = Logger(namespace="rosey.bus")

#: Seconds before the same connection error is logged again.
ERROR_REPORT_EVERY = 60.0


def masked(url: str) -> str:
    """``url`` without its password or token (for logs)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def connect_options(
    settings: BusSettings, name: str = "rosey", *, reconnect: bool = True, **callbacks: Any
) -> dict[str, Any]:
    """``nats.connect`` keyword arguments for ``[bus]``: authenticate as configured, TLS
    (verified) for ``tls://``, and with ``reconnect`` nats-py's own reconnecting for ever (also
    for the first connection); ``callbacks`` are nats-py's (``error_cb`` …)."""
    s = settings
    options: dict[str, Any] = {
        "servers": list(s.urls),
        "name": name,
        "allow_reconnect": reconnect,
        "max_reconnect_attempts": -1 if reconnect else 0,
        "reconnect_time_wait": s.reconnect_wait,
        "connect_timeout": max(1, int(s.reconnect_wait)),
        **callbacks,
    }
    if s.token is not None:
        options["token"] = s.token
    if s.user is not None:
        options["user"] = s.user
        options["password"] = s.password
    if s.creds_file is not None:
        options["user_credentials"] = s.creds_file
    if any(url.startswith("tls://") for url in s.urls):
        options["tls"] = ssl.create_default_context()  # verified against the system's CAs
    return options


class NatsClient:
    """One nats-py connection made from ``[bus]``; subclasses say what it is for.

    ``role`` names the connection in the server's monitoring (``rosey``, ``rosey-commands``…)
    and in rosey's log lines; ``on_up`` / ``on_down`` are for subclasses to extend.
    """

    role = "rosey"
    #: Whether nats-py reconnects the connection by itself (else the subclass makes a new one).
    reconnect = True

    def __init__(self, settings: BusSettings) -> None:
        self.settings = settings
        self.state = interface.CONNECTING
        self._nc: Any = None
        self._errors_logged: dict[str, float] = {}  # error text -> when last logged

    async def connect(self) -> Any:
        """Connect (retrying for ever: nats-py's own reconnect) and return the connection."""
        self._nc = await nats.connect(**self.options())
        self.on_up()
        log.info("bus {url}: connected ({role})", url=self._url(), role=self.role)
        return self._nc

    def options(self) -> dict[str, Any]:
        """nats-py's ``connect`` keyword arguments for ``[bus]``."""
        return connect_options(
            self.settings,
            self.role,
            reconnect=self.reconnect,
            error_cb=self.on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )

    async def on_error(self, error: Exception) -> None:
        """Log ``error``; the same text at most once a minute (a refused login or a server
        that is away repeats on every retry)."""
        text = f"{type(error).__name__}: {error}".strip()
        now = time.monotonic()
        if now - self._errors_logged.get(text, -ERROR_REPORT_EVERY) >= ERROR_REPORT_EVERY:
            self._errors_logged[text] = now
            log.error("bus {urls}: {error}", urls=self._urls(), error=text)

    async def _on_disconnected(self) -> None:
        self.lost()

    def lost(self) -> None:
        """The connection went away (said by nats-py, or noticed by a subclass: nats-py 2.9
        never calls back for a connection it does not reconnect); once per loss."""
        if self.state not in (interface.STOPPED, interface.DISCONNECTED):
            self.state = interface.DISCONNECTED
            self.on_down()
            log.warn("bus {urls}: disconnected ({role})", urls=self._urls(), role=self.role)

    async def _on_reconnected(self) -> None:
        self.on_up()
        log.info("bus {url}: reconnected ({role})", url=self._url(), role=self.role)

    def on_up(self) -> None:
        """The connection is (back) up."""
        self.state = interface.CONNECTED
        self._errors_logged.clear()

    def on_down(self) -> None:
        """The connection went away (nats-py is reconnecting)."""

    def _urls(self) -> str:
        return ", ".join(masked(u) for u in self.settings.urls)

    def _url(self) -> str:
        url = getattr(self._nc, "connected_url", None)
        return masked(url.geturl()) if url is not None else self._urls()

    async def close(self) -> None:
        """Mark the client stopped and close its connection."""
        self.state = interface.STOPPED
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()


class LoopClient(NatsClient):
    """A :class:`NatsClient` whose work is one loop, :meth:`run`, started as an asyncio task
    (the event publisher, the database service's stream consumer)."""

    def __init__(self, settings: BusSettings) -> None:
        super().__init__(settings)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        """Run :meth:`run` as a task of the running (or current) asyncio loop; an error it
        did not expect goes to :meth:`crashed`."""
        self._task = asyncio.ensure_future(self._run_logged())
        return self._task

    async def run(self) -> None:
        """The client's work, run by :meth:`start` (subclasses that have a loop)."""
        raise NotImplementedError

    def crashed(self, error: Exception) -> None:
        """:meth:`run` failed (a bug): log it; subclasses say what it stopped."""
        log.failure("bus: the {role} client stopped", Failure(error), role=self.role)

    async def _run_logged(self) -> None:
        try:
            await self.run()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.crashed(e)
