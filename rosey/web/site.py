"""The status page's resource tree: ``/``, ``/channels/…``, ``/api/…`` and ``/static/…``.

The daemon adds ``/metrics`` and ``/health`` to the same root (:mod:`rosey.daemon.web`).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files

from twisted.internet.interfaces import IReactorTime
from twisted.web.pages import notFound
from twisted.web.resource import IResource, Resource
from twisted.web.static import File

from rosey.bot.service import Bot
from rosey.storage.interface import IStorage
from rosey.web.api import ApiResource, StatusData
from rosey.web.channels import Channels
from rosey.web.pages import ChannelResource, IndexResource
from rosey.web.say import SayEndpoint

STATIC = str(files("rosey.web") / "static")


class _Root(Resource):
    def __init__(self, index: Resource) -> None:
        super().__init__()
        self._index = index

    def getChild(self, path: bytes, request: object) -> IResource:
        return self._index if path == b"" else notFound()


class _Static(File):
    """The package's static files, without directory listings."""

    def directoryListing(self) -> IResource:
        return notFound()


def make_root(
    bots: Mapping[str, Bot],
    storage: IStorage,
    clock: IReactorTime,
    say_token: str | None = None,
) -> tuple[Resource, StatusData]:
    """The root resource for ``bots`` (by label, ``host/name``) and what it serves from."""
    data = StatusData(Channels(bots), storage, clock, SayEndpoint(say_token))
    root = _Root(IndexResource(data))
    root.putChild(b"channels", ChannelResource(data))
    root.putChild(b"api", ApiResource(data))
    static = _Static(STATIC)
    static.contentTypes = {**static.contentTypes, ".js": "text/javascript; charset=utf-8"}
    root.putChild(b"static", static)
    return root, data
