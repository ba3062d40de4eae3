"""A terminal chat client for one CyTube channel, on rosey's connection layer and urwid.

The channel state comes from :class:`rosey.bot.service.Bot` (a bare one, with no plugins,
so it never answers commands): the mirror feeds the user list and the now-playing line, and
``bot.actions`` / ``bot.say`` / ``bot.pm`` do what the input line asks. urwid draws on the
Twisted reactor through ``urwid.TwistedEventLoop``.

Run from the repository root::

    python examples/tui/rosey_tui.py --site https://cytu.be --channel NAME [--user NAME]
        [--password-env VAR]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

try:
    import rosey  # noqa: F401
except ImportError:  # run from a checkout without rosey installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import urwid
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import ILogObserver, LogLevel, formatEvent, globalLogBeginner
from twisted.python.failure import Failure
from zope.interface import provider

from rosey import events
from rosey.bot.service import Bot
from rosey.events import Event
from rosey.wire.connection import CyTubeConnection

USER_COLOURS = (
    "light red", "light green", "yellow", "light blue",
    "light magenta", "light cyan", "dark green", "brown", "dark cyan", "dark magenta",
)  # fmt: skip
PALETTE: list[tuple[str, str, str]] = [
    ("header", "white", "dark blue"),
    ("dim", "dark gray", ""),
    ("system", "yellow", ""),
    ("pm", "light magenta", ""),
    ("afk", "dark gray", ""),
    ("title", "white,bold", ""),
] + [(f"u{i}", colour, "") for i, colour in enumerate(USER_COLOURS)]
COMMANDS = ("/pm", "/me", "/afk", "/users", "/playlist", "/add", "/skip", "/quit", "/help")
HELP = (
    "commands: /pm USER TEXT, /me TEXT, /afk, /users, /playlist, /add URL, /skip, /quit; "
    "//text sends /text; Tab completes names and emotes; PgUp/PgDn scroll"
)
USERLIST_WIDTH = 26


def user_attr(name: str) -> str:
    """The palette entry for ``name``: a stable hash, so a user keeps one colour."""
    return f"u{zlib.crc32(name.lower().encode('utf-8')) % len(USER_COLOURS)}"


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """``text`` safe for the terminal: control characters (escape sequences…) become ``?``."""
    return _CONTROL.sub("?", text)


def complete(prefix: str, words: Sequence[str]) -> list[str]:
    """The words starting with ``prefix`` (case-insensitive), sorted, without duplicates."""
    low = prefix.lower()
    return sorted({w for w in words if w.lower().startswith(low) and w != prefix}, key=str.lower)


class InputLine(urwid.Edit):
    """The input line: Enter submits, Up/Down walk the history, Tab completes the word."""

    def __init__(self, submit: Callable[[str], None], words: Callable[[], Sequence[str]]) -> None:
        super().__init__("> ")
        self._submit = submit
        self._words = words
        self.history: list[str] = []
        self._pos: int | None = None  # index into history while browsing it
        self._draft = ""
        self._cycle: tuple[int, list[str], int] | None = None  # (word start, choices, index)

    def keypress(self, size: tuple[()] | tuple[int] | tuple[int, int], key: str) -> str | None:
        if key != "tab":
            self._cycle = None
        if key == "enter":
            text = self.edit_text
            if text.strip():
                if not self.history or self.history[-1] != text:
                    self.history.append(text)
                self._submit(text)
            self._pos = None
            self.set_edit_text("")
            return None
        if key in ("up", "down"):
            self._browse(-1 if key == "up" else 1)
            return None
        if key == "tab":
            self._complete()
            return None
        if key == "ctrl u":  # readline's kill to start of line
            self._show(self.edit_text[self.edit_pos :])
            self.set_edit_pos(0)
            return None
        result: str | None = super().keypress(size, key)  # type: ignore[arg-type]  # Edit narrows it
        return result

    def _browse(self, step: int) -> None:
        if not self.history:
            return
        if self._pos is None:
            if step > 0:
                return
            self._draft = self.edit_text
            pos = len(self.history) - 1
        else:
            pos = self._pos + step
        if pos < 0:
            return
        if pos >= len(self.history):
            self._pos = None
            self._show(self._draft)
            return
        self._pos = pos
        self._show(self.history[pos])

    def _show(self, text: str) -> None:
        self.set_edit_text(text)
        self.set_edit_pos(len(text))

    def _complete(self) -> None:
        text, cursor = self.edit_text, self.edit_pos
        if self._cycle is None:
            start = cursor
            while start > 0 and not text[start - 1].isspace():
                start -= 1
            prefix = text[start:cursor]
            if not prefix:
                return
            choices = complete(prefix, self._words())
            if not choices:
                return
            self._cycle = (start, choices, 0)
        else:
            start, choices, index = self._cycle
            self._cycle = (start, choices, (index + 1) % len(choices))
        start, choices, index = self._cycle
        end = text.find(" ", start)
        end = len(text) if end < 0 else end
        word = choices[index] + (" " if len(choices) == 1 else "")
        self.set_edit_text(
            text[:start] + word + text[end:].lstrip(" " if len(choices) == 1 else "")
        )
        self.set_edit_pos(start + len(word))


class TuiApp:
    """The client: one connection, a bare :class:`Bot` for state and actions, the urwid screen."""

    def __init__(
        self, reactor: Any, site: str, channel: str, user: str | None, password: str | None
    ) -> None:
        self.reactor = reactor
        self.channel = channel
        self.connection = CyTubeConnection(
            site, channel, username=user, password=password, reactor=reactor
        )
        self.bot = Bot(self.connection, clock=reactor)
        self.bot.on("*", self._on_event)
        self.header = urwid.Text("")
        self.lines: urwid.SimpleFocusListWalker[urwid.Text] = urwid.SimpleFocusListWalker([])
        self.chat = urwid.ListBox(self.lines)
        self.userlist = urwid.SimpleFocusListWalker([urwid.Text("")])
        self.input = InputLine(self.submit, self._words)
        body = urwid.Columns(
            [self.chat, (USERLIST_WIDTH, urwid.LineBox(urwid.ListBox(self.userlist), "users"))]
        )
        self.frame = urwid.Frame(
            body,
            header=urwid.AttrMap(self.header, "header"),
            footer=self.input,
            focus_part="footer",
        )
        self.loop = urwid.MainLoop(
            self.frame,
            PALETTE,
            event_loop=urwid.TwistedEventLoop(reactor=reactor),
            unhandled_input=self._unhandled,
            handle_mouse=False,
        )
        self._redraw_pending = False
        self._quitting = False
        self._refresh()

    # -- running ------------------------------------------------------------------------------

    def run(self) -> None:
        """Connect and run the screen on the reactor until ``/quit``."""

        @provider(ILogObserver)
        def observer(event: dict[str, Any]) -> None:
            self._log_event(event)

        # the screen is the terminal: log lines go to the chat view, nowhere else
        globalLogBeginner.beginLoggingTo([cast(ILogObserver, observer)], redirectStandardIO=False)
        self.system(f"connecting to #{self.channel} … (/help for commands)")
        self.bot.startService()
        self.connection.startService()
        self.loop.run()

    def quit(self) -> None:
        """Leave the channel and stop the reactor (bounded: 5 s at most)."""
        if self._quitting:
            return
        self._quitting = True
        self.system("bye")
        d: Deferred[Any] = maybeDeferred(self.bot.stopService)
        d.addBoth(lambda _: self.connection.stopService())
        d.addTimeout(5, self.reactor)
        d.addBoth(lambda _: self.reactor.stop())

    # -- showing things -----------------------------------------------------------------------

    def add_line(self, markup: list[str | tuple[str, str]]) -> None:
        """Append a line to the chat view, following the bottom unless scrolled up."""
        at_bottom = not self.lines or self.chat.focus_position == len(self.lines) - 1
        safe = [clean(m) if isinstance(m, str) else (m[0], clean(m[1])) for m in markup]
        self.lines.append(urwid.Text(safe))
        if at_bottom:
            self.chat.set_focus(len(self.lines) - 1)
        self.redraw()

    def system(self, text: str) -> None:
        """A line from the client itself."""
        self.add_line([("system", f"{_clock()} * {text}")])

    def redraw(self) -> None:
        """Draw once the current reactor turn is over (network events don't pass urwid)."""
        if not self._redraw_pending:
            self._redraw_pending = True
            self.reactor.callLater(0, self._draw)

    def _draw(self) -> None:
        self._redraw_pending = False
        if self.loop.screen.started:
            self.loop.draw_screen()

    def _refresh(self) -> None:
        mirror = self.bot.mirror
        me = mirror.name or "(not logged in)"
        np = mirror.playlist.now_playing
        playing = f"{np.media.title} [{np.media.duration}]" if np else "nothing playing"
        count = mirror.users.usercount
        viewers = f"  {count} connected" if count is not None else ""
        self.header.set_text(clean(f" #{self.channel}  as {me}{viewers}  > now playing: {playing}"))
        users = sorted(mirror.users, key=lambda u: (-u.rank, u.name.lower()))
        rows: list[urwid.Text] = []
        for u in users:
            attr = "afk" if u.afk else user_attr(u.name)
            suffix = " afk" if u.afk else ""
            rows.append(urwid.Text([(attr, clean(u.name)), f" {u.rank:g}{suffix}"], wrap="clip"))
        self.userlist[:] = rows or [urwid.Text("")]
        self.redraw()

    # -- events -------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        name, data = event.name, event.platform_data
        if name == events.MESSAGE:
            self._show_chat(event)
        elif name == events.PM:
            to = data.get("to", "?") if isinstance(data, dict) else "?"
            self.add_line(
                [
                    ("pm", f"{_clock(event.timestamp)} [PM {event.user} -> {to}] "),
                    event.content or "",
                ]
            )
        elif name == events.READY:
            self.system(f"joined #{self.channel} as {self.bot.mirror.name or 'anonymous'}")
        elif name in (events.DISCONNECTED, events.KICKED, events.CONNECT_FAILED, events.ERROR):
            detail = event.content or (
                data.get("reason") or data.get("error") if isinstance(data, dict) else ""
            )
            self.system(f"{name}: {detail}" if detail else name)
        elif name == "changeMedia":
            np = self.bot.mirror.playlist.now_playing
            if np is not None:
                self.system(f"now playing: {np.media.title}")
        self._refresh()

    def _show_chat(self, event: Event) -> None:
        data = event.platform_data if isinstance(event.platform_data, dict) else {}
        meta = data.get("meta")
        meta = meta if isinstance(meta, dict) else {}
        who, text = event.user or "?", event.content or ""
        stamp = _clock(event.timestamp)
        if meta.get("action") or meta.get("addClass") == "action":
            markup: list[Any] = [f"{stamp} * ", (user_attr(who), who), f" {text}"]
        else:
            markup = [f"{stamp} ", (user_attr(who), who), f": {text}"]
        if event.replayed:
            markup = [("dim", "".join(m if isinstance(m, str) else m[1] for m in markup))]
        self.add_line(markup)

    def _log_event(self, event: dict[str, Any]) -> None:
        level = event.get("log_level")
        if level is not None and level >= LogLevel.warn:
            text = formatEvent(event)
            failure = event.get("log_failure")
            if isinstance(failure, Failure):
                text += f" ({failure.getErrorMessage()})"
            self.system(f"[{level.name}] {text}")

    # -- input --------------------------------------------------------------------------------

    def _words(self) -> list[str]:
        mirror = self.bot.mirror
        words = list(mirror.users.names) + [e.name for e in mirror.channel.emotes]
        return words + [c for c in COMMANDS if not self.input.edit_text.strip(" /").count(" ")]

    def _unhandled(self, key: str | tuple[str, int, int, int]) -> None:
        if key in ("page up", "page down") and self.lines:
            step = -10 if key == "page up" else 10
            pos = min(max(self.chat.focus_position + step, 0), len(self.lines) - 1)
            self.chat.set_focus(pos)
        elif key in ("ctrl c", "ctrl d"):
            self.quit()

    def submit(self, text: str) -> None:
        """Run one input line: a slash command, or a chat line."""
        if text.startswith("//"):
            self._run("say", lambda: self.bot.say(text[1:]))
        elif text.startswith("/"):
            command, _, rest = text[1:].partition(" ")
            self.command(command.lower(), rest.strip())
        else:
            self._run("say", lambda: self.bot.say(text))

    def command(self, name: str, rest: str) -> None:
        """One slash command (``name`` without the slash)."""
        actions = self.bot.actions
        if name == "pm":
            to, _, msg = rest.partition(" ")
            if not to or not msg.strip():
                self.system("usage: /pm USER TEXT")
                return
            self._run("pm", lambda: actions.pm(to, msg.strip()))
        elif name == "me" and rest:
            self._run("me", lambda: actions.me(rest))
        elif name == "afk":
            self._run("afk", actions.afk, lambda afk: f"you are {'AFK' if afk else 'back'}")
        elif name == "users":
            users = sorted(self.bot.mirror.users, key=lambda u: (-u.rank, u.name.lower()))
            listed = ", ".join(f"{u.name} ({u.rank:g}{', afk' if u.afk else ''})" for u in users)
            self.system(f"{len(users)} users: {listed or 'none'}")
        elif name == "playlist":
            playlist = self.bot.mirror.playlist
            self.system(f"playlist: {len(playlist)} items")
            for n, item in enumerate(playlist.items, 1):
                mark = ">" if item.uid == playlist.current_uid else " "
                self.system(
                    f"{mark}{n:3}. {item.media.title} [{item.media.duration}] ({item.queueby})"
                )
        elif name == "add" and rest:
            self._run("add", lambda: actions.queue(rest), lambda uid: f"queued {rest} (uid {uid})")
        elif name == "skip":
            self._run("skip", actions.voteskip, lambda _: "voted to skip")
        elif name == "quit":
            self.quit()
        elif name == "help":
            self.system(HELP)
        else:
            self.system(f"unknown or incomplete command /{name}; /help lists them")

    def _run(
        self, what: str, call: Callable[[], Any], done: Callable[[Any], str] | None = None
    ) -> None:
        d: Deferred[Any] = maybeDeferred(call)
        if done is not None:
            d.addCallback(lambda result: self.system(done(result)))
        d.addErrback(lambda f: self.system(f"{what} failed: {f.getErrorMessage()}"))


def _clock(timestamp: float | None = None) -> str:
    return time.strftime("%H:%M", time.localtime(timestamp if timestamp else None))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docs)."""
    parser = argparse.ArgumentParser(description="A terminal chat client for a CyTube channel.")
    parser.add_argument("--site", required=True, help="e.g. https://cytu.be")
    parser.add_argument("--channel", required=True, help="the channel name")
    parser.add_argument("--user", help="log in with this name (a guest without a password)")
    parser.add_argument(
        "--password-env", metavar="VAR", help="read the account's password from this variable"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the client; the exit status."""
    args = parse_args(argv)
    password = None
    if args.password_env:
        password = os.environ.get(args.password_env)
        if not password:
            print(f"rosey_tui: ${args.password_env} is not set", file=sys.stderr)
            return 2
        if not args.user:
            print("rosey_tui: --password-env needs --user", file=sys.stderr)
            return 2
    from twisted.internet import reactor

    TuiApp(reactor, args.site, args.channel, args.user, password).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
