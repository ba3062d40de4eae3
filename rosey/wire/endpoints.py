"""How rosey reaches a CyTube server: the websocket endpoint (TLS verified for ``wss://``) and the
HTTP client for the socketconfig."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit

from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.ssl import optionsForClientTLS

from rosey.wire.socketconfig import HTTPGetter

__all__ = ["default_http", "websocket_endpoint"]


def websocket_endpoint(reactor: Any, url: str, *, trust_root: Any = None) -> Any:
    """The client endpoint for a ``ws://`` or ``wss://`` URL.

    ``wss`` wraps a ``HostnameEndpoint`` in TLS with ``optionsForClientTLS``: the certificate is
    verified against the system roots (or ``trust_root``) and the host name.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    endpoint = HostnameEndpoint(reactor, host, port)
    if not secure:
        return endpoint
    return wrapClientTLS(optionsForClientTLS(host, trustRoot=trust_root), endpoint)


def default_http(reactor: Any) -> tuple[HTTPGetter, Any]:
    """treq over a non-persistent pool (socketconfig is fetched once per connect), and the pool
    (to close on stop)."""
    from treq.client import HTTPClient
    from twisted.web.client import Agent, HTTPConnectionPool, _HTTP11ClientFactory

    class QuietFactory(_HTTP11ClientFactory):
        noisy = False  # no "Starting/Stopping factory ... at 0x7f..." per socketconfig fetch

    pool = HTTPConnectionPool(reactor, persistent=False)
    pool._factory = QuietFactory
    client = HTTPClient(Agent(reactor, connectTimeout=30, pool=pool))
    return cast(HTTPGetter, client), pool
