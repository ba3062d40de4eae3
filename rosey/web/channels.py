"""The channels the status page shows: each bot by its site host and channel name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rosey.bot.service import Bot


@dataclass(frozen=True)
class WebChannel:
    """One channel on the status page: ``/channels/<site>/<name>``."""

    site: str
    """The CyTube server's host (``cytu.be``)."""
    name: str
    bot: Bot

    @property
    def label(self) -> str:
        """``site/name``, as logs and metrics name the channel."""
        return f"{self.site}/{self.name}"

    @property
    def storage_key(self) -> str:
        """The key the channel's rows are stored under."""
        return self.bot.storage_key

    @property
    def path(self) -> str:
        """The channel's page, relative to the site root."""
        return f"/channels/{self.site}/{self.name}"


class Channels:
    """The channels by label (``host/name``), found case-insensitively as CyTube names are."""

    def __init__(self, bots: Mapping[str, Bot]) -> None:
        self._by_key: dict[tuple[str, str], WebChannel] = {}
        for label, bot in bots.items():
            site, _, name = label.partition("/")
            channel = WebChannel(site, name, bot)
            self._by_key[(site.lower(), name.lower())] = channel

    def all(self) -> list[WebChannel]:
        """Every channel, by label."""
        return sorted(self._by_key.values(), key=lambda c: c.label.lower())

    def find(self, site: str, name: str) -> WebChannel | None:
        """The channel on host ``site`` called ``name``, or None."""
        return self._by_key.get((site.lower(), name.lower()))
