"""Channel settings and extras: MOTD, CSS/JS, options, permissions, emotes, filters, polls."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from rosey.bot.state.models import (
    ChatFilter,
    Emote,
    Poll,
    Voteskip,
    as_dict,
    as_int,
    as_list,
    as_number,
    as_str,
    parse_emote,
    parse_filter,
    parse_poll,
)

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class ChannelSettings:
    """Everything about the channel itself that the server tells this viewer.

    ``options`` and ``permissions`` are CyTube's own objects (read-only); the server always
    sends them whole, so each update replaces the previous one. ``permissions`` is empty until
    the join burst's ``setPermissions``. ``chat_filters`` is None until the full list has been
    sent (on ``requestChatFilters``; CyTube 3.86 does not send it on join). ``registered``
    turns False on ``channelNotRegistered``, the last frame of an unregistered channel's burst.

    The ``on_*`` methods take one CyTube event's payload (the mirror routes them) and raise
    :class:`~rosey.bot.state.models.Malformed` before changing anything when it has the wrong
    shape.
    """

    motd: str
    css: str
    css_hash: str
    js: str
    js_hash: str
    options: Mapping[str, Any]
    permissions: Mapping[str, Any]
    _emotes: dict[str, Emote]
    chat_filters: tuple[ChatFilter, ...] | None
    drink_count: int
    voteskip: Voteskip | None
    poll: Poll | None
    registered: bool

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything (a new session resends it all)."""
        self.motd = ""
        self.css = self.css_hash = self.js = self.js_hash = ""
        self.options = _EMPTY
        self.permissions = _EMPTY
        self._emotes = {}
        self.chat_filters = None
        self.drink_count = 0
        self.voteskip = None
        self.poll = None
        self.registered = True

    @property
    def emotes(self) -> tuple[Emote, ...]:
        """The emotes in the server's order (an update keeps its place, a rename moves last)."""
        return tuple(self._emotes.values())

    def emote(self, name: str) -> Emote | None:
        """The emote called ``name`` (exact, as CyTube matches it)."""
        return self._emotes.get(name)

    # -- handlers -----------------------------------------------------------------------------

    def on_set_motd(self, data: Any) -> None:
        self.motd = as_str(data, "setMotd")

    def on_channel_css_js(self, data: Any) -> None:
        payload = data if type(data) is dict else as_dict(data, "channelCSSJS")
        values = []
        for key in ("css", "cssHash", "js", "jsHash"):
            value = payload.get(key, "")
            values.append(value if type(value) is str else as_str(value, key))
        self.css, self.css_hash, self.js, self.js_hash = values

    def on_channel_opts(self, data: Any) -> None:
        self.options = MappingProxyType(dict(as_dict(data, "channelOpts")))

    def on_set_permissions(self, data: Any) -> None:
        payload = data if type(data) is dict else as_dict(data, "setPermissions")
        for node, value in payload.items():
            kind = type(value)
            # value - value is 0 for a finite float (nan and inf give nan); the label is only
            # built for the rare odd value.
            if kind is not int and (kind is not float or value - value != 0):
                as_number(value, f"permission {node}")
        self.permissions = MappingProxyType(dict(payload))

    def on_emote_list(self, data: Any) -> None:
        emotes = [parse_emote(e) for e in as_list(data, "emoteList")]
        self._emotes = {e.name: e for e in emotes}

    def on_update_emote(self, data: Any) -> None:
        emote = parse_emote(data)
        self._emotes[emote.name] = emote

    def on_rename_emote(self, data: Any) -> None:
        payload = as_dict(data, "renameEmote")
        old = as_str(payload.get("old"), "old")
        emote = parse_emote(payload)
        self._emotes.pop(old, None)
        self._emotes[emote.name] = emote

    def on_remove_emote(self, data: Any) -> None:
        name = as_str(as_dict(data, "removeEmote").get("name"), "name")
        self._emotes.pop(name, None)

    def on_chat_filters(self, data: Any) -> None:
        self.chat_filters = tuple(parse_filter(f) for f in as_list(data, "chatFilters"))

    def on_update_chat_filter(self, data: Any) -> None:
        new = parse_filter(data)
        if self.chat_filters is None:
            return  # a partial list would pass for the whole one
        filters = list(self.chat_filters)
        for index, old in enumerate(filters):
            if old.name == new.name:
                filters[index] = new
                break
        else:
            filters.append(new)
        self.chat_filters = tuple(filters)

    def on_delete_chat_filter(self, data: Any) -> None:
        name = as_str(as_dict(data, "deleteChatFilter").get("name"), "name")
        if self.chat_filters is not None:
            self.chat_filters = tuple(f for f in self.chat_filters if f.name != name)

    def on_drink_count(self, data: Any) -> None:
        self.drink_count = as_int(data, "drinkCount")

    def on_voteskip(self, data: Any) -> None:
        payload = as_dict(data, "voteskip")
        self.voteskip = Voteskip(
            count=as_int(payload.get("count"), "count"), need=as_int(payload.get("need"), "need")
        )

    def on_poll(self, data: Any) -> None:
        self.poll = parse_poll(data)

    def on_close_poll(self, data: Any) -> None:
        self.poll = None

    def on_channel_not_registered(self, data: Any) -> None:
        self.registered = False
