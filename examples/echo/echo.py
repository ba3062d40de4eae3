"""An example rosey plugin in one file: echo private messages and mentions.

A private message comes back to its sender as a private message; a chat line that mentions the
bot by name (``echobot: hello``) is answered in chat with the rest of the line
(``alice: hello``). Like every rosey plugin it is a :class:`~rosey.plugin.PluginFactory` in a
module of the ``rosey.plugins`` package; a directory listed in ``[plugins] dirs`` joins that
package, so this file needs no installing.

It answers only live lines from real users: not the chat the server replays on join, not the
bot's own lines (the server echoes those back), not pseudo-users such as ``[server]``, not
commands (they are for the command plugins), and not what the bot itself said a moment ago
(two echo bots would otherwise talk forever). What it sends never starts with ``/`` or the
command prefix, so nobody can make it run a command.
"""

from __future__ import annotations

import re

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from rosey import events
from rosey.events import Event
from rosey.plugin import Plugin, PluginFactory
from rosey.plugins.support import clean_text, safe_line

_USER_NAME = re.compile(r"[A-Za-z0-9_-]{1,20}")
#: Longest echo, in characters (CyTube cuts chat lines at 320).
MAX_ECHO = 280


class Echo(Plugin):
    """Echoes PMs back by PM, and chat mentions back in chat."""

    def start(self) -> None:
        self.on(events.PM, self.on_pm)
        self.on(events.MESSAGE, self.on_message)

    def on_pm(self, event: Event) -> None:
        text = self._live_text(event)
        if text is not None and event.user is not None:
            self._sent(self.api.pm(event.user, self._safe(text)), event.user)

    def on_message(self, event: Event) -> None:
        text = self._live_text(event)
        own = self.api.channel.own_name
        if text is None or event.user is None or not own:
            return
        mention = re.compile(rf"(?<![\w-]){re.escape(own)}(?![\w-])[:,]?", re.IGNORECASE)
        if not mention.search(text):
            return
        rest = " ".join(mention.sub(" ", text).split())
        if rest:
            self._sent(self.api.say(self._safe(f"{event.user}: {rest}")), event.user)

    def _live_text(self, event: Event) -> str | None:
        """The event's text when it is a live line from a real user other than the bot."""
        user, content = event.user, event.content
        if event.replayed or user is None or content is None or event.extra.get("server_whisper"):
            return None
        if not _USER_NAME.fullmatch(user) or self.api.channel.is_me(user):
            return None
        text = clean_text(content)
        if not text or text.startswith(self.api.prefix) or self.api.channel.said_recently(text):
            return None
        return text

    def _safe(self, text: str) -> str:
        if len(text) > MAX_ECHO:
            text = text[: MAX_ECHO - 1] + "…"
        return safe_line(text, self.api.prefix)

    def _sent(self, d: Deferred[None], user: str) -> None:
        def failed(failure: Failure) -> None:
            self.log.info("echo to {user} not sent: {why}", user=user, why=failure.value)

        d.addErrback(failed)


echo = PluginFactory("echo", Echo, description="Echoes PMs and mentions.", default_enabled=False)
