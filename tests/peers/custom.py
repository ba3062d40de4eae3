"""Channel CSS/JS, emotes and chat filters, as CyTube 3.86 handles them (src/channel/
customization.js ``handleSetCSS``/``handleSetJS``, emotes.js, filters.js).

Refusals follow the source: CSS/JS below rank 3 kick the sender; emote and filter requests
without ``emoteedit``/``filteredit`` are ignored without a word. The filters are kept as a list
(the chat itself still formats with the five default filters, see :func:`shapes.format_chat`),
and regexes are checked with Python's ``re`` standing in for PCRE.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from tests.peers import shapes
from tests.peers.channel import NO_ACK, Handler
from tests.peers.state import Member

if TYPE_CHECKING:
    from tests.peers.channel import Channel

#: customization.js cuts CSS and JS to this many characters.
MAX_CSS_JS = 20000
#: filters.js ``DEFAULT_FILTERS`` names, in order, for shapes.DEFAULT_FILTERS.
DEFAULT_FILTER_NAMES = ("monospace", "bold", "italic", "strike", "inline spoiler")
_EMOTE_SPECIALS = re.compile(r"([\\.?+*$^|()\[\]{}])")
#: Python ``re`` messages → the PCRE texts cytubefilters reports for the same mistakes.
_PCRE_MESSAGES = (
    ("missing ), unterminated subpattern", "missing )"),
    ("unbalanced parenthesis", "unmatched parentheses"),
    ("unterminated character set", "missing terminating ] for character class"),
    ("nothing to repeat", "nothing to repeat"),
)


def _regex_error(source: Any) -> str | None:
    """``FilterList.checkValidRegex``: None when ``source`` compiles, else the error text."""
    if not isinstance(source, str):
        return "pattern must be a string"
    try:
        re.compile(source)
    except re.error as e:
        return next((pcre for py, pcre in _PCRE_MESSAGES if e.msg.startswith(py)), e.msg)
    return None


def _validate_emote(data: dict[str, Any]) -> dict[str, Any] | None:
    """``validateEmote``: mutates ``data`` like the original (image cut and escaped, source)."""
    if not isinstance(data.get("name"), str) or not isinstance(data.get("image"), str):
        return None
    data["image"] = shapes.escape_text(data["image"][:1000])
    escaped = _EMOTE_SPECIALS.sub(r"\\\1", shapes.escape_text(data["name"]))
    data["source"] = "(^|\\s)" + escaped + "(?!\\S)"
    if not data["image"] or not data["name"]:
        return None
    return data


def _fix_replace(replace: str) -> str:
    return re.sub(r"\$(\d)", r"\\\1", replace)


def _validate_filter(data: dict[str, Any]) -> dict[str, Any] | None:
    """``validateFilter``: the stored shape (key order as on the wire), or None."""
    if not all(isinstance(data.get(k), str) for k in ("source", "flags", "replace")):
        return None
    name = data["name"] if isinstance(data.get("name"), str) else data["source"]
    return {
        "name": name,
        "source": data["source"],
        "replace": _fix_replace(_fix_replace(data["replace"][:1000])),
        "flags": data["flags"][:4],
        "active": bool(data.get("active")),
        "filterlinks": bool(data.get("filterlinks")),
    }


class CustomModule:
    """CSS, JS, emotes and chat filters of one channel."""

    def __init__(self, channel: Channel) -> None:
        self.ch = channel
        self.css = channel.config.css
        self.js = channel.config.js
        self.emotes: dict[str, dict[str, Any]] = {e["name"]: dict(e) for e in channel.config.emotes}
        self.filters: list[dict[str, Any]] = [
            {
                "name": name,
                "source": source,
                "flags": flags,
                "replace": replace,
                "active": True,
                "filterlinks": False,
            }
            for name, (source, flags, replace) in zip(
                DEFAULT_FILTER_NAMES, shapes.DEFAULT_FILTERS, strict=True
            )
        ]

    def handlers(self) -> dict[str, Handler]:
        return {
            "setChannelCSS": self.handle_css,
            "setChannelJS": self.handle_js,
            "updateEmote": self.handle_update_emote,
            "renameEmote": self.handle_rename_emote,
            "removeEmote": self.handle_remove_emote,
            "requestChatFilters": self.handle_request_filters,
            "addFilter": self.handle_add_filter,
            "updateFilter": self.handle_update_filter,
            "removeFilter": self.handle_remove_filter,
        }

    # -- CSS and JS ------------------------------------------------------------------------

    def css_js(self) -> dict[str, str]:
        """The ``channelCSSJS`` payload."""
        return {
            "css": self.css,
            "cssHash": shapes.md5_b64(self.css),
            "js": self.js,
            "jsHash": shapes.md5_b64(self.js),
        }

    async def handle_css(self, m: Member, data: Any) -> Any:
        if await self.ch.typecheck(m, "setChannelCSS", data, {"css": "string"}):
            await self._set(m, "css", data["css"])
        return NO_ACK

    async def handle_js(self, m: Member, data: Any) -> Any:
        if await self.ch.typecheck(m, "setChannelJS", data, {"js": "string"}):
            await self._set(m, "js", data["js"])
        return NO_ACK

    async def _set(self, m: Member, which: str, text: str) -> None:
        if m.rank < 3:  # canSetCSS / canSetJS
            event = "setChannelCSS" if which == "css" else "setChannelJS"
            await self.ch.kick(m, f"Attempted {event} as non-admin")
            return
        old = getattr(self, which)
        # JavaScript's substring counts UTF-16 code units (an astral character is two).
        units = text.encode("utf-16-le", "surrogatepass")[: 2 * MAX_CSS_JS]
        setattr(self, which, units.decode("utf-16-le", "surrogatepass"))
        if getattr(self, which) != old:  # the server compares the md5 hashes
            await self.ch.broadcast("channelCSSJS", self.css_js())

    # -- emotes ----------------------------------------------------------------------------

    def emote_list(self) -> list[dict[str, Any]]:
        return list(self.emotes.values())

    async def _emote_error(self, m: Member, msg: str) -> None:
        await self.ch.send(m, "errorMsg", {"msg": msg, "alert": True})

    async def handle_update_emote(self, m: Member, data: Any) -> Any:
        if not isinstance(data, dict) or not self.ch.perm(m, "emoteedit"):
            return NO_ACK
        f = _validate_emote(data)
        if f is None:
            msg = (
                f"Unable to update emote '{_js_json(data)}'.  "
                "Please contact an administrator for assistance."
            )
            if not data.get("image") or not data.get("name"):
                msg = "Emote names and images must not be blank."
            await self._emote_error(m, msg)
            return NO_ACK
        self.emotes[f["name"]] = {"name": f["name"], "source": f["source"], "image": f["image"]}
        await self.ch.broadcast("updateEmote", f)
        return NO_ACK

    async def handle_rename_emote(self, m: Member, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("old"), str):
            return NO_ACK
        if not self.ch.perm(m, "emoteedit"):
            return NO_ACK
        exists = data.get("name") in self.emotes
        f = _validate_emote(data)
        if f is None or exists:
            msg = (
                f"Unable to rename emote '{_js_json(data)}'.  "
                "Please contact an administrator for assistance."
            )
            if not data.get("image") or not data.get("name"):
                msg = "Emote names and images must not be blank."
            if exists:
                msg = "Emote already exists."
            await self._emote_error(m, msg)
            return NO_ACK
        if self.emotes.pop(f["old"], None) is None:
            return NO_ACK
        self.emotes[f["name"]] = {"name": f["name"], "source": f["source"], "image": f["image"]}
        await self.ch.broadcast("renameEmote", f)
        return NO_ACK

    async def handle_remove_emote(self, m: Member, data: Any) -> Any:
        if not isinstance(data, dict) or not self.ch.perm(m, "emoteedit"):
            return NO_ACK
        if not isinstance(data.get("name"), str):
            return NO_ACK
        self.emotes.pop(data["name"], None)
        await self.ch.broadcast("removeEmote", data)  # even for a name it did not have
        return NO_ACK

    # -- chat filters ----------------------------------------------------------------------

    async def _to_editors(self, event: str, data: Any) -> None:
        for viewer in self.ch.viewers():
            if self.ch.perm(viewer, "filteredit"):
                await self.ch.send(viewer, event, data)

    async def handle_request_filters(self, m: Member, data: Any) -> Any:
        if self.ch.perm(m, "filteredit"):
            await self.ch.send(m, "chatFilters", [dict(f) for f in self.filters])
        return NO_ACK

    async def _checked(self, m: Member, data: Any) -> dict[str, Any] | None:
        """The common start of addFilter/updateFilter: permission, regex, validation."""
        if not isinstance(data, dict) or not self.ch.perm(m, "filteredit"):
            return None
        error = _regex_error(data.get("source"))
        if error is not None:
            await self.ch.send(m, "errorMsg", {"msg": f"Invalid regex: {error}", "alert": True})
            return None
        return _validate_filter(data)

    async def handle_add_filter(self, m: Member, data: Any) -> Any:
        f = await self._checked(m, data)
        if f is not None:
            self.filters.append(f)  # cytubefilters appends, even a name it already has
            await self.ch.send(m, "addFilterSuccess")
            await self._to_editors("updateChatFilter", f)
        return NO_ACK

    async def handle_update_filter(self, m: Member, data: Any) -> Any:
        f = await self._checked(m, data)
        if f is not None:
            index = next(
                (i for i, old in enumerate(self.filters) if old["name"] == f["name"]), None
            )
            if index is None:
                self.filters.append(f)
            else:
                self.filters[index] = f
            await self._to_editors("updateChatFilter", f)
        return NO_ACK

    async def handle_remove_filter(self, m: Member, data: Any) -> Any:
        if not isinstance(data, dict) or not self.ch.perm(m, "filteredit"):
            return NO_ACK
        if not isinstance(data.get("name"), str):
            return NO_ACK
        index = next((i for i, f in enumerate(self.filters) if f["name"] == data["name"]), None)
        if index is not None:
            del self.filters[index]
        await self._to_editors("deleteChatFilter", data)
        return NO_ACK


def _js_json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
