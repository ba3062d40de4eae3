"""The error hierarchy shared by every layer (from the original Rosey design).

``CytubeError`` is the root. The wire raises ``SocketIOError`` (framing and transport),
``LoginError`` and its subclasses (the server refused a login), ``ChannelError`` (the channel
cannot be joined) and ``Kicked``; the bot raises ``ChannelPermissionError`` when an action would
be refused (or get the bot kicked) by the server.
"""

from __future__ import annotations


class CytubeError(Exception):
    """Root of every error rosey raises about CyTube."""


class SocketIOError(CytubeError):
    """The Engine.IO/Socket.IO layer failed: bad frame, lost connection, ack timeout."""


class CodecError(SocketIOError):
    """A frame could not be decoded. The only exception the codec ever raises."""


class ConnectionClosed(SocketIOError):
    """The connection closed while something was waiting on it."""


class AckTimeout(SocketIOError):
    """The server did not answer an event sent with an ack in time."""


class NotConnected(SocketIOError):
    """An emit was attempted while no session is open."""


class JoinTimeout(SocketIOError):
    """The server stopped answering the login and join of a channel (the session is left and
    opened again)."""


class ChannelError(CytubeError):
    """The channel cannot be joined or used."""


class NoSuchChannel(ChannelError):
    """``/socketconfig/<channel>.json`` answered 404: the name is not a valid channel."""


class ChannelPasswordError(ChannelError):
    """The channel needs a password and none, or the wrong one, was given."""


class ChannelPermissionError(ChannelError):
    """The bot's rank is too low for the action; it was refused locally, never sent."""


class LoginError(CytubeError):
    """The server refused the login. ``server_message`` is the server's own text."""

    def __init__(self, server_message: str) -> None:
        super().__init__(server_message)
        self.server_message = server_message


class BadCredentials(LoginError):
    """Wrong password, or the account does not exist."""


class InvalidUsername(LoginError):
    """The name is not a valid CyTube user name."""


class NameTaken(LoginError):
    """A guest name that is registered, reserved, or already in use on the channel."""


class GuestLoginLimited(LoginError):
    """Guest logins are limited per IP; ``retry_after`` is the server's delay in seconds."""

    def __init__(self, server_message: str, retry_after: float) -> None:
        super().__init__(server_message)
        self.retry_after = retry_after


class Kicked(CytubeError):
    """The server kicked the bot. ``reason`` is the server's reason text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NameInUse(NameTaken):
    """The guest name is in use on the channel right now (perhaps by rosey's own stale session).

    Unlike a registered or reserved name this can clear by itself, so the connection retries it.
    """


class ConnectRefused(SocketIOError):
    """The server refused the socket.io connect (``44``); ``message`` is the server's text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
