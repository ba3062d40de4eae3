"""The manhole: a Python shell inside the running daemon, over SSH, for operators.

Off by default. When on, ``make_manhole_service`` listens on ``[manhole] listen`` (127.0.0.1:2222
by default; reach it through ``ssh -L``) and accepts **public keys only**, checked against the
``authorized_keys`` file, which is read again at every login, so adding or removing a key needs
no restart. Any SSH user name is accepted: the key is the credential. The ed25519 host key is
read from ``host_key``; on first start it is created there with mode 0600 (and its public half in
``host_key + ".pub"`` for operators' ``known_hosts``).

Each login gets a fresh namespace from the daemon's namespace callable, plus ``show``::

    >>> show(bot.actions.set_motd("maintenance at 20:00"))   # a Deferred: printed when it fires
    show #0: waiting (up to 10 s)
    show #0: 'maintenance at 20:00'
    >>> show(some_coroutine(), timeout=30)                  # coroutines work too
    >>> _                                                   # the last result (or Failure) shown
    >>> show(bot.mirror.users)                              # a plain value: printed at once

``show`` takes the result (like ``await``), so a Deferred it watched fires with ``None`` for any
later callbacks; it cancels the Deferred after ``timeout`` seconds (``None``: wait forever).
Typing an expression that evaluates to a Deferred also works (the manhole prints
``<Deferred #n>`` and the result later), without the timeout.
"""

from __future__ import annotations

import pprint
from collections.abc import Callable, Coroutine
from typing import Any

from twisted.application.internet import StreamServerEndpointService
from twisted.conch import manhole_ssh
from twisted.conch.insults import insults
from twisted.conch.interfaces import IConchUser
from twisted.conch.manhole import ColoredManhole
from twisted.conch.ssh.transport import DISCONNECT_BY_APPLICATION, SSHServerTransport
from twisted.cred.portal import IRealm, Portal
from twisted.internet import defer, endpoints
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ProcessDone
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IReactorTime,
    IStreamServerEndpoint,
)
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from rosey.daemon.config import ConfigError, ManholeConfig
from rosey.daemon.manhole_keys import (
    AuthorizedKeysFile,
    LoggingKeyChecker,
    load_or_create_host_key,
)

__all__ = [
    "AuthorizedKeysFile",
    "ManholeService",
    "Show",
    "load_or_create_host_key",
    "make_manhole_service",
]

log = Logger(namespace="rosey.daemon.manhole")

BANNER = (
    "rosey manhole: {names}\n"
    "show(d, timeout=10) prints what a Deferred or coroutine gives; Ctrl-D leaves.\n"
)


# -- the shell --------------------------------------------------------------------------------


class Show:
    """``show(value, timeout=10)``: print what a Deferred (or coroutine) fires with, when it does.

    ``write(text, is_async)`` prints into one manhole session; ``store(value)`` puts the result
    in the session's ``_``. Returns None, so the manhole prints nothing else.
    """

    def __init__(
        self,
        write: Callable[[str, bool], None],
        clock: IReactorTime,
        store: Callable[[Any], None] = lambda value: None,
    ) -> None:
        self._write = write
        self._clock = clock
        self._store = store
        self._count = 0

    def __call__(self, value: Any, timeout: float | None = 10.0) -> None:
        if isinstance(value, Coroutine):
            value = Deferred.fromCoroutine(value)
        if not isinstance(value, Deferred):
            self._store(value)
            self._write(pprint.pformat(value), False)
            return
        number = self._count
        self._count += 1
        in_call = True

        def report(result: Any) -> None:
            self._store(result)
            if not isinstance(result, Failure):
                text = f"show #{number}: {pprint.pformat(result)}"
            elif result.check(defer.CancelledError, defer.TimeoutError) and timeout is not None:
                text = f"show #{number}: no result after {timeout:g} s (cancelled)"
            else:
                text = (
                    f"show #{number} failed: {type(result.value).__name__}: "
                    f"{result.getErrorMessage()} (the Failure is in _)"
                )
            self._write(text, not in_call)

        if timeout is not None:
            value.addTimeout(timeout, self._clock)
        value.addBoth(report)
        in_call = False
        if not value.called:
            limit = "no time limit" if timeout is None else f"up to {timeout:g} s"
            self._write(f"show #{number}: waiting ({limit})", False)


class ManholeShell(ColoredManhole):
    """A colored Python shell whose namespace is built at login, with ``show`` added."""

    def __init__(self, namespace: Callable[[], dict[str, Any]], clock: IReactorTime) -> None:
        super().__init__()
        self._make_namespace = namespace
        self._clock = clock
        self._open = False
        self._names: dict[str, Any] = {}

    def connectionMade(self) -> None:
        self._open = True
        try:
            names = dict(self._make_namespace())
        except Exception:
            log.failure("manhole: building the namespace failed")
            names = {"namespace_error": Failure()}
        names.setdefault("reactor", self._clock)
        names["show"] = Show(self._output, self._clock, self._store)
        self.namespace = self._names = names
        super().connectionMade()

    def initializeScreen(self) -> None:
        self.terminal.reset()
        listed = ", ".join(sorted(k for k in self._names if not k.startswith("_")))
        self.terminal.write(BANNER.format(names=listed).encode("utf-8"))
        self.terminal.write(self.ps[self.pn])
        self.setInsertMode()

    def terminalSize(self, width: int, height: int) -> None:
        # The stock handler clears the screen, which would wipe the banner at login and the
        # operator's scrollback at every resize; line editing does not need the size.
        self.width, self.height = width, height

    def _output(self, text: str, is_async: bool) -> None:
        if self._open:
            self.addOutput(text.encode("utf-8") + b"\n", is_async)

    def _store(self, value: Any) -> None:
        self._names["_"] = value

    def connectionLost(self, reason: Failure) -> None:
        self._open = False
        super().connectionLost(reason)


class _SessionTransport(manhole_ssh.TerminalSessionTransport):
    """Closes the channel with exit status 0, so ``ssh`` itself exits 0 after Ctrl-D."""

    def __init__(self, proto: Any, chainedProtocol: Any, avatar: Any, width: int, height: int):
        super().__init__(proto, chainedProtocol, avatar, width, height)
        chainedProtocol.transport.loseConnection = lambda: proto.processEnded(
            Failure(ProcessDone(0))
        )


class _Session(manhole_ssh.TerminalSession):
    """``TerminalSession`` that handles what the stock one raises on: EOF and window resizes."""

    transportFactory = _SessionTransport
    width, height = 80, 24  # a client that asks for no pty still gets a screen
    _transport: Any = None

    def openShell(self, proto: Any) -> None:
        self._transport = self.transportFactory(
            proto,
            self.chainedProtocolFactory(),
            IConchUser(self.original),
            self.width,
            self.height,
        )

    def windowChanged(self, newWindowSize: tuple[int, int, int, int]) -> None:
        self.height, self.width = newWindowSize[:2]
        if self._transport is not None:
            terminal = self._transport.chainedProtocol
            terminal.terminalProtocol.terminalSize(self.width, self.height)

    def eofReceived(self) -> None:
        # stdin closed (ssh fed from a pipe): the input so far has been run, so leave.
        if self._transport is not None:
            self._transport.chainedProtocol.loseConnection()

    def closed(self) -> None:
        # The stock session never tells the shell that the channel is gone; late show()
        # output must not be written into a closed channel.
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.chainedProtocol.connectionLost(Failure(ConnectionDone()))


@implementer(IRealm)
class _Realm(manhole_ssh.TerminalRealm):
    sessionFactory = _Session
    transportFactory = _SessionTransport

    def __init__(self, shell: Callable[[], insults.ServerProtocol]) -> None:
        super().__init__()
        # Twisted annotates this as a class, but any callable returning the terminal will do.
        self.chainedProtocolFactory = shell  # type: ignore[assignment]


class _ServerTransport(SSHServerTransport):
    def receiveError(self, reasonCode: int, description: bytes) -> None:
        # Conch logs every client's "disconnected by user" at error level: a logout is not one.
        if reasonCode != DISCONNECT_BY_APPLICATION:
            super().receiveError(reasonCode, description)


# -- the service ------------------------------------------------------------------------------


@implementer(IStreamServerEndpoint)
class _AnnouncingEndpoint:
    """Wraps an endpoint to hand the listening port to :class:`ManholeService`."""

    def __init__(self, endpoint: IStreamServerEndpoint, listening: Callable[[Any], None]):
        self._endpoint = endpoint
        self._listening = listening

    def listen(self, protocolFactory: IProtocolFactory) -> Deferred[IListeningPort]:
        d: Deferred[IListeningPort] = self._endpoint.listen(protocolFactory)
        return d.addCallback(self._announce)

    def _announce(self, port: IListeningPort) -> IListeningPort:
        self._listening(port)
        return port


class ManholeService(StreamServerEndpointService):
    """``strports.service(listen, factory)`` that also tells where it listens.

    Like every ``StreamServerEndpointService``, it binds in ``privilegedStartService`` and a
    bind failure (port taken) raises there, before the daemon runs.
    """

    name = "manhole"

    def __init__(self, endpoint: IStreamServerEndpoint, factory: manhole_ssh.ConchFactory):
        self.port: IListeningPort | None = None
        self._waiting: list[Deferred[IListeningPort]] = []
        super().__init__(_AnnouncingEndpoint(endpoint, self._listening), factory)

    def _listening(self, port: IListeningPort) -> None:
        self.port = port
        address = port.getHost()
        where = f"{getattr(address, 'host', '?')}:{getattr(address, 'port', '?')}"
        log.info("manhole listening on {address}", address=where)
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(port)

    def when_listening(self) -> Deferred[IListeningPort]:
        """Fires with the listening port (at once if already listening)."""
        if self.port is not None:
            return defer.succeed(self.port)
        d: Deferred[IListeningPort] = Deferred()
        self._waiting.append(d)
        return d

    def stopService(self) -> Deferred[None]:
        self.port = None
        d: Deferred[None] = super().stopService()
        return d


def make_manhole_service(
    config: ManholeConfig, namespace: Callable[[], dict[str, Any]], reactor: Any
) -> ManholeService:
    """The SSH manhole service for ``config`` (call it only when ``config.enabled``).

    ``namespace()`` is called at every login and returns the names the shell starts with;
    ``show`` (and ``reactor``, if missing) are added. Reads the host key now, creating it if
    missing, so a broken key path fails before the reactor starts: raises :class:`ConfigError`.
    """
    if not config.authorized_keys:
        raise ConfigError(
            "manhole.authorized_keys: missing; expected the path of an OpenSSH "
            "authorized_keys file (the manhole accepts public keys only)"
        )
    if not config.host_key:
        raise ConfigError(
            "manhole.host_key: missing; expected a path for the SSH host key "
            "(created there, mode 0600, if missing), e.g. /var/lib/rosey/manhole/host_key"
        )
    host_key = load_or_create_host_key(config.host_key)
    keys = AuthorizedKeysFile(config.authorized_keys)
    if not keys.getAuthorizedKeys(b""):
        log.warn(
            "manhole: no usable key in {path!r} yet: nobody can log in until one is added",
            path=config.authorized_keys,
        )
    try:
        endpoint = endpoints.serverFromString(reactor, config.listen)
    except ValueError as e:
        raise ConfigError(f"manhole.listen: {config.listen!r} is not an endpoint: {e}") from None

    def shell() -> insults.ServerProtocol:
        return insults.ServerProtocol(ManholeShell, namespace, reactor)

    realm = _Realm(shell)
    # The portal's only checker takes public keys, so that is the only method SSH offers.
    portal = Portal(realm, [LoggingKeyChecker(keys)])
    factory = manhole_ssh.ConchFactory(portal)
    factory.protocol = _ServerTransport
    # Fresh dicts: ConchFactory's are class attributes shared by every instance. (They hold
    # Key objects; Twisted's annotation says bytes.)
    keyed: Any = factory
    keyed.publicKeys = {host_key.sshType(): host_key.public()}
    keyed.privateKeys = {host_key.sshType(): host_key}
    return ManholeService(endpoint, factory)
