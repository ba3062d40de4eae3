"""``POST /api/channels/<site>/<name>/say``: a chat line through the bot's send queue, for
whoever holds the bearer token (``[web] token_env`` / ``token_file``).

Without a configured token the endpoint does not exist (404); a missing or wrong token is 401,
compared in constant time. The token is never logged.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from twisted.web.server import Request

from rosey.errors import CytubeError
from rosey.web.channels import WebChannel
from rosey.web.http import HTTPError, log

#: The longest line accepted (CyTube cuts chat at 320 characters).
MAX_TEXT = 320
MAX_BODY = 4096


class SayEndpoint:
    """Checks the token and the body, then says the text in the channel."""

    def __init__(self, token: str | None) -> None:
        self._expected = None if token is None else f"Bearer {token}".encode()

    @property
    def enabled(self) -> bool:
        """Whether a token is configured (else the endpoint answers 404)."""
        return self._expected is not None

    def authorize(self, request: Request) -> None:
        """Raise :class:`HTTPError` unless the request carries the token."""
        if self._expected is None:
            raise HTTPError(404, "not found")
        given = request.getHeader(b"authorization") or b""
        if not hmac.compare_digest(given, self._expected):
            request.setHeader(b"www-authenticate", b'Bearer realm="rosey"')
            raise HTTPError(401, "a valid bearer token is required")

    async def say(self, request: Request, channel: WebChannel) -> dict[str, Any]:
        """Authorize, read ``{"text": ...}`` and send it; fires once the server echoed it."""
        self.authorize(request)
        text = _text(request)
        try:
            await channel.bot.actions.chat(text)
        except (ValueError, CytubeError, TimeoutError) as e:
            raise HTTPError(409, f"not sent: {e}") from None
        log.info("said a line in {channel} for a web client", channel=channel.label)
        return {"ok": True}


def _text(request: Request) -> str:
    assert request.content is not None
    raw = request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise HTTPError(413, f"the body is over {MAX_BODY} bytes")
    try:
        body = json.loads(raw)
    except ValueError:
        raise HTTPError(400, 'the body is not JSON like {"text": "hello"}') from None
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise HTTPError(400, 'the body needs a non-empty "text" string')
    if len(text) > MAX_TEXT or "\n" in text or "\r" in text:
        raise HTTPError(400, f"the text must be one line of at most {MAX_TEXT} characters")
    return text
