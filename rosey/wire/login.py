"""The server's login refusals as typed errors (pure, no I/O).

CyTube answers a refused ``login`` with ``{success: false, error: "<text>"}``; the texts below are
the ones CyTube 3.86 sends (src/user.js, see the protocol notes §4.1). :func:`login_error` maps a
text to the matching :class:`~rosey.errors.LoginError` subclass and always keeps the server's own
words in ``server_message``. A text it does not know becomes a plain ``LoginError``.
"""

from __future__ import annotations

import re
from typing import Any

from rosey.errors import (
    BadCredentials,
    GuestLoginLimited,
    InvalidUsername,
    LoginError,
    NameInUse,
    NameTaken,
)

__all__ = ["DEFAULT_GUEST_DELAY", "is_fatal", "login_error"]

# CyTube's default ``guest-login-delay``: used when the text names no number we can read.
DEFAULT_GUEST_DELAY = 60.0

_GUEST_LIMIT = re.compile(
    r"^Guest logins are restricted to one per IP address per (\d+(?:\.\d+)?) seconds"
)
_EXACT: dict[str, type[LoginError]] = {
    "Invalid username/password combination": BadCredentials,
    "User does not exist": BadCredentials,
    "That username is registered.": NameTaken,
    "That username is reserved.": NameTaken,
    "That name is already in use on this channel.": NameInUse,
}


def login_error(message: Any) -> LoginError:
    """The typed error for the ``error`` text of a refused login. Never raises."""
    if not isinstance(message, str) or not message.strip():
        return LoginError("login refused with no reason given")
    text = message.strip()
    cls = _EXACT.get(text)
    if cls is not None:
        return cls(message)
    limited = _GUEST_LIMIT.match(text)
    if limited:
        return GuestLoginLimited(message, retry_after=float(limited.group(1)))
    if text.startswith("Guest logins are restricted"):
        return GuestLoginLimited(message, retry_after=DEFAULT_GUEST_DELAY)
    # 'Invalid username "<name>"' (password login) and 'Invalid username.  Usernames must …'
    if text.startswith("Invalid username"):
        return InvalidUsername(message)
    return LoginError(message)


def is_fatal(error: LoginError) -> bool:
    """True when retrying cannot help: the configuration has to change first.

    Wrong credentials and invalid, registered or reserved names are fatal. A guest limit passes
    after its delay, a name in use may be rosey's own stale session, and an unknown text may be a
    passing server fault (a database error), so those are retried.
    """
    if isinstance(error, NameInUse):
        return False
    return isinstance(error, BadCredentials | InvalidUsername | NameTaken)
