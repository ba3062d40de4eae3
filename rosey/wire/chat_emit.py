"""``send_message`` and ``send_pm`` of :class:`~rosey.interfaces.IConnection` in terms of ``emit``:
the payloads CyTube's ``chatMsg`` and ``pm`` take, written once for every connection."""

from __future__ import annotations

from typing import Any

__all__ = ["ChatEmitter"]


class ChatEmitter:
    """Mixin for a connection whose ``emit(event, data)`` sends one socket.io event."""

    def emit(self, event: str, data: Any = None) -> None:
        raise NotImplementedError

    def send_message(self, text: str, meta: dict[str, Any] | None = None) -> None:
        """Send a chat line (``chatMsg {msg, meta}``)."""
        self.emit("chatMsg", {"msg": text, "meta": meta or {}})

    def send_pm(self, to: str, text: str, meta: dict[str, Any] | None = None) -> None:
        """Send a private message (``pm {to, msg, meta}``)."""
        self.emit("pm", {"to": to, "msg": text, "meta": meta or {}})
