"""The metrics endpoint: ``/metrics`` for Prometheus and ``/health`` for load balancers and humans.

Served by Twisted web on ``[metrics] listen`` (``tcp:9100:interface=127.0.0.1`` by default).
``/health`` answers 200 when every channel is joined and storage keeps up, else 503, with a JSON
body that says which part is unhealthy. Requests are not access-logged: a scraper every 15
seconds would otherwise fill the journal.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from prometheus_client.exposition import choose_encoder
from twisted.application import strports
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IService
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.web.http import Request
from twisted.web.pages import notFound
from twisted.web.resource import IResource, Resource
from twisted.web.server import Site

from rosey.daemon.config import Config
from rosey.daemon.metrics import Metrics

if TYPE_CHECKING:
    from rosey.web.api import StatusData

STORAGE_STALE_AFTER = 120.0
"""Seconds storage may go without writing while it has rows pending before /health says 503."""


class MetricsPage(Resource):
    """``/metrics``: the registry in Prometheus text format (or OpenMetrics when asked for)."""

    isLeaf = True

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self._metrics = metrics

    def render_GET(self, request: Request) -> bytes:
        accept = request.getHeader(b"accept")
        encoder, content_type = choose_encoder(accept.decode("latin-1") if accept else "")
        request.setHeader(b"content-type", content_type.encode("ascii"))
        body: bytes = encoder(self._metrics.registry)
        return body


class HealthPage(Resource):
    """``/health``: per channel joined and last event age, storage last write age."""

    isLeaf = True

    def __init__(self, metrics: Metrics, storage_stale_after: float) -> None:
        super().__init__()
        self._metrics = metrics
        self._stale_after = storage_stale_after

    def render_GET(self, request: Request) -> bytes:
        health = self._metrics.health(self._stale_after)
        request.setResponseCode(200 if health.ok else 503)
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        return json.dumps(health.as_json(), indent=1).encode("utf-8") + b"\n"


class _Root(Resource):
    def getChild(self, path: bytes, request: Request) -> IResource:
        return notFound()


class _QuietSite(Site):
    def log(self, request: Request) -> None:
        pass


def make_site(metrics: Metrics, storage_stale_after: float = STORAGE_STALE_AFTER) -> Site:
    """The resource tree (``/metrics``, ``/health``) in a Site that does not access-log."""
    root = _Root()
    root.putChild(b"metrics", MetricsPage(metrics))
    root.putChild(b"health", HealthPage(metrics, storage_stale_after))
    site = _QuietSite(root)
    site.noisy = False
    return site


def make_metrics_service(
    config: Config,
    metrics: Metrics,
    reactor: Any,
    storage_stale_after: float = STORAGE_STALE_AFTER,
) -> IService:
    """A service listening on ``config.metrics.listen`` (whether or not ``enabled``: the caller
    decides). Failing to bind raises from ``privilegedStartService``, so twistd stops at once."""
    service: IService = strports.service(
        config.metrics.listen, make_site(metrics, storage_stale_after), reactor=reactor
    )
    service.setName("metrics")
    return service


def make_web_service(config: Config, daemon: Any, reactor: Any) -> IService:
    """The status page (``[web]``, :mod:`rosey.web`) on ``config.web.listen``, with
    ``/metrics`` and ``/health`` beside it. ``daemon`` is the built
    :class:`~rosey.daemon.assemble.RoseyDaemon` (its bots, storage and metrics)."""
    from rosey.web.site import make_root

    token = config.web.token.value if config.web.token is not None else None
    root, data = make_root(daemon.bots, daemon.storage.storage, reactor, token)
    root.putChild(b"metrics", MetricsPage(daemon.metrics))
    root.putChild(b"health", HealthPage(daemon.metrics, STORAGE_STALE_AFTER))
    site = _QuietSite(root)
    site.noisy = False
    service = _WebService(serverFromString(reactor, config.web.listen), site)
    service.setName("web")
    service.web_data = data
    return service


class _WebService(StreamServerEndpointService):
    """The status page's listener; stopping it also ends the open live streams."""

    #: What the site serves from (its live feeds: tests wait on their streams).
    web_data: StatusData

    def stopService(self) -> Deferred[None] | None:
        for feed in self.web_data.feeds.values():
            feed.close_all()
        result: Deferred[None] | None = super().stopService()
        return result


def when_listening(service: IService) -> Deferred[IListeningPort]:
    """The port a started :func:`make_metrics_service` listens on (to log or test its address).

    Fails with ``RuntimeError`` if the service is not started or could not listen.
    """
    # StreamServerEndpointService keeps the listen() Deferred privately. Chain off it and pass
    # the port on, so that stopService still receives it.
    waiting: Deferred[IListeningPort] | None = getattr(service, "_waitingForPort", None)
    result: Deferred[IListeningPort] = Deferred()
    if waiting is None:
        result.errback(RuntimeError("the metrics service is not started"))
        return result

    def got(port: IListeningPort | None) -> IListeningPort | None:
        if port is None:  # the listen failure was already reported by the service
            result.errback(RuntimeError("the metrics service could not listen"))
        else:
            result.callback(port)
        return port

    waiting.addCallback(got)
    return result
