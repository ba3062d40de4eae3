"""How a :class:`~rosey.wire.connection.CyTubeConnection` dials: the endpoint that asks the
socketconfig where to connect each time, and the ClientService that runs it quietly.

``ClientService`` logs "Scheduling retry … in 4.73829271 seconds" before every retry, even just
before the connection decides not to reconnect at all; :class:`QuietClientService` drops that
line, and the connection logs its own (rounded, and none when it is about to stop).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from twisted.application.internet import ClientService
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import ConnectionRefusedError as TwistedConnectionRefused
from twisted.internet.interfaces import IProtocol, IProtocolFactory, IStreamClientEndpoint
from twisted.logger import ILogObserver, Logger
from zope.interface import implementer

from rosey.errors import CytubeError
from rosey.wire.endpoints import websocket_endpoint
from rosey.wire.protocol import CyTubeClientFactory
from rosey.wire.retry import Reconnector
from rosey.wire.socketconfig import HTTPGetter, fetch_socket_url

__all__ = ["QuietClientService", "SocketConfigEndpoint", "was_refused"]


def was_refused(error: BaseException | None) -> bool:
    """Whether ``error`` (or what caused it, e.g. a failed socketconfig fetch) is a refused TCP
    connect: nothing listened, so the server never saw it."""
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, TwistedConnectionRefused | ConnectionRefusedError):
            return True
        error, seen = error.__cause__, seen + 1
    return False


def _drop(event: Any) -> None:
    pass


class QuietClientService(ClientService):
    """ClientService without its "Scheduling retry" line (the connection logs its own)."""

    _log = Logger(observer=cast(ILogObserver, _drop))


@implementer(IStreamClientEndpoint)
class SocketConfigEndpoint:
    """An endpoint that asks ``site``'s socketconfig where ``channel`` lives, every time it
    connects, then opens the websocket there (TLS verified for ``wss://``).

    The reconnect policy hears when an attempt starts and when a session is open; a failed
    attempt goes to ``on_failure`` (then fails the connect, so ClientService retries).
    """

    def __init__(
        self,
        http: HTTPGetter,
        site: str,
        channel: str,
        *,
        clock: Any,
        eio: int,
        trust_root: Any,
        reconnector: Reconnector,
        on_failure: Callable[[BaseException], None],
    ) -> None:
        self._http, self._site, self._channel = http, site, channel
        self._clock, self._eio, self._trust_root = clock, eio, trust_root
        self._reconnector = reconnector
        self._on_failure = on_failure

    def connect(self, factory: IProtocolFactory) -> Deferred[IProtocol]:
        return Deferred.fromCoroutine(self._connect(cast(CyTubeClientFactory, factory)))

    async def _connect(self, factory: CyTubeClientFactory) -> IProtocol:
        try:
            url = await fetch_socket_url(
                self._http, self._site, self._channel, clock=self._clock, eio=self._eio
            )
        except CytubeError as e:
            self._on_failure(e)
            raise
        factory.set_url(url, origin=self._site)
        endpoint = websocket_endpoint(self._clock, url, trust_root=self._trust_root)
        self._reconnector.attempt_started()
        try:
            protocol: IProtocol = await endpoint.connect(factory)
        except CancelledError:
            raise
        except Exception as e:
            self._on_failure(e)
            raise
        self._reconnector.session_started()
        return protocol
