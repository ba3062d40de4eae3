"""examples/tui: the README's command in a real terminal (tmux) against the real socket.io peer.

The test types with ``tmux send-keys`` and reads the screen with ``tmux capture-pane``; the
peer sees what the client sent. It runs on a tmux server of its own (``-S`` in tmp_path),
killed at the end.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import pytest_twisted
from twisted.internet.task import deferLater

from tests.examples.harness import CHANNEL, EXAMPLES
from tests.peers.cytube import CyTubePeer

pytest.importorskip("urwid", reason="the tui example needs urwid (the 'tui' extra)")
needs_tmux = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed (apt-get install -y tmux)"
)

USER = "tuiuser"
PASSWORD = "tui-secret-pw"
REPO = EXAMPLES.parent


def readme_command() -> list[str]:
    """The ``sh`` command of examples/tui/README.md, as argv."""
    readme = (EXAMPLES / "tui" / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.+?)\n```", readme, flags=re.S)
    assert len(blocks) == 1, "examples/tui/README.md should have one sh command"
    argv = blocks[0].split()
    assert argv[:2] == ["python", "examples/tui/rosey_tui.py"], blocks[0]
    return argv


class Tmux:
    """One detached tmux session on a private server (its socket in the test's directory)."""

    def __init__(self, socket: Path) -> None:
        self.base = ["tmux", "-S", str(socket), "-f", "/dev/null"]

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            [*self.base, *args], capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "tui")

    def dead(self) -> bool:
        return self("display-message", "-p", "-t", "tui", "#{pane_dead}").strip() == "1"

    def kill(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True, timeout=10)


async def screen_shows(tmux: Tmux, check: Callable[[str], bool], timeout: float = 8.0) -> str:
    """Polls the screen (every 50 ms) until ``check(screen)``; fails with the last screen."""
    from twisted.internet import reactor

    deadline = reactor.seconds() + timeout
    while True:
        screen = tmux.screen()
        if check(screen):
            return screen
        if reactor.seconds() >= deadline or tmux.dead():
            raise AssertionError(f"not on the screen after {timeout:g} s:\n{screen}")
        await deferLater(reactor, 0.05, lambda: None)


@pytest_twisted.async_yield_fixture()
async def peer() -> AsyncIterator[CyTubePeer]:
    media = {
        "dQw4w9WgXcQ": {"title": "Never Gonna", "seconds": 213},
        "9bZkp7q19f0": {"title": "Gangnam Style", "seconds": 252},
    }
    p = CyTubePeer(
        CHANNEL, accounts={USER: (PASSWORD, 2)}, media=media, connect_capacity=100
    ).start()
    yield p
    p.stop()


def load_example() -> ModuleType:
    """examples/tui/rosey_tui.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("rosey_tui", EXAMPLES / "tui" / "rosey_tui.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    t = Tmux(tmp_path / "tmux.sock")
    yield t
    t.kill()


def pms(peer: CyTubePeer) -> list[tuple[str, str]]:
    return [(r.data.get("to"), r.data.get("msg")) for r in peer.events("pm", USER)]


def said(peer: CyTubePeer) -> list[str]:
    return [r.data["msg"] for r in peer.events("chatMsg", USER)]


def relaid_out(screen: str) -> bool:
    """The user list's box ends at column 80 and the input line is on the last row (24)."""
    lines = screen.splitlines()
    top_right = any(len(line) == 80 and line.endswith("┐") for line in lines)
    return top_right and len(lines) == 24 and lines[-1].startswith(">")


@needs_tmux
@pytest_twisted.ensureDeferred
async def test_tui_chats_in_a_real_terminal(peer: CyTubePeer, tmux: Tmux, tmp_path: Path) -> None:
    from twisted.internet import reactor

    argv = readme_command()
    argv[0] = sys.executable
    argv[argv.index("--site") + 1] = peer.site
    argv[argv.index("--channel") + 1] = CHANNEL
    argv[argv.index("--user") + 1] = USER
    var = argv[argv.index("--password-env") + 1]
    peer.add_virtual_user("bob", 1)
    peer.chat("bob", "said before the client came")
    env = ["-e", f"{var}={PASSWORD}", "-e", "LANG=C.UTF-8", "-e", "TERM=screen"]
    # the shell writes down how the client ended (tmux's #{pane_dead_status} sometimes stays
    # empty, and output written just before the exit can be lost with the pane)
    status, stderr = tmp_path / "status", tmp_path / "stderr"
    done = shlex.quote(str(status))
    command = (
        f"{shlex.join(argv)} 2>{shlex.quote(str(stderr))}; echo $? >{done}.t; mv {done}.t {done}"
    )
    tmux("-u", "new-session", "-d", "-s", "tui", "-x", "120", "-y", "40", "-c", str(REPO),
         *env, command)  # fmt: skip
    tmux("set-option", "-t", "tui", "remain-on-exit", "on")

    # joined: the user list shows the client's own name with its rank, and bob's
    screen = await screen_shows(tmux, lambda s: f"{USER} 2" in s and "bob 1" in s)
    assert "said before the client came" in screen  # the replayed history
    assert f"as {USER}" in screen
    assert PASSWORD not in screen
    # replayed history is dimmed (dark grey); live users get their own stable colours
    coloured = tmux("capture-pane", "-p", "-e", "-t", "tui")
    assert re.search(r"\x1b\[90m\d\d:\d\d bob: said before the client came", coloured), coloured

    peer.chat("bob", "hello from bob")
    await screen_shows(tmux, lambda s: "bob: hello from bob" in s)
    peer.chat("bob", "clear \x1b[2J\x1b]0;title\x07 this")  # hostile text reaches no terminal
    hostile = re.compile(r"bob: clear [ ?]\[2J[ ?]\]0;title[ ?] this")
    await screen_shows(tmux, lambda s: hostile.search(s) is not None and "hello from bob" in s)

    tmux("send-keys", "-t", "tui", "-l", "hi from the terminal")
    tmux("send-keys", "-t", "tui", "Enter")
    await peer.when(lambda p: "hi from the terminal" in said(p), timeout=5)
    await screen_shows(tmux, lambda s: f"{USER}: hi from the terminal" in s)
    coloured = tmux("capture-pane", "-p", "-e", "-t", "tui")
    bob = re.search(r"(\x1b\[[0-9;]+m)bob\x1b\[39m: hello from bob", coloured)
    me = re.search(rf"(\x1b\[[0-9;]+m){USER}\x1b\[39m: hi from the terminal", coloured)
    assert bob, coloured
    assert me, coloured
    assert bob[1] != me[1], coloured

    # Up brings back the last line; Tab completes a user name
    tmux("send-keys", "-t", "tui", "Up")
    await screen_shows(tmux, lambda s: "> hi from the terminal" in s)
    tmux("send-keys", "-t", "tui", "C-u")
    tmux("send-keys", "-t", "tui", "-l", "bo")
    tmux("send-keys", "-t", "tui", "Tab")
    await screen_shows(tmux, lambda s: re.search(r"(?m)^> bob\s*$", s) is not None)
    tmux("send-keys", "-t", "tui", "C-u")

    tmux("send-keys", "-t", "tui", "-l", "/me waves")
    tmux("send-keys", "-t", "tui", "Enter")
    await peer.when(lambda p: "/me waves" in said(p), timeout=5)
    await screen_shows(tmux, lambda s: f"* {USER} waves" in s)

    # private messages both ways
    peer.pm("bob", USER, "psst")
    await screen_shows(tmux, lambda s: f"[PM bob -> {USER}] psst" in s)
    tmux("send-keys", "-t", "tui", "-l", "/pm bob hey there")
    tmux("send-keys", "-t", "tui", "Enter")
    await peer.when(lambda p: ("bob", "hey there") in pms(p), timeout=5)

    # now playing, /playlist, /add, /skip
    peer.queue_media("dQw4w9WgXcQ")
    await screen_shows(tmux, lambda s: "now playing: Never Gonna [03:33]" in s)
    tmux("send-keys", "-t", "tui", "-l", "/add https://youtu.be/9bZkp7q19f0")
    tmux("send-keys", "-t", "tui", "Enter")
    await screen_shows(tmux, lambda s: "queued https://youtu.be/9bZkp7q19f0" in s)
    tmux("send-keys", "-t", "tui", "-l", "/playlist")
    tmux("send-keys", "-t", "tui", "Enter")
    await screen_shows(tmux, lambda s: "2. Gangnam Style [04:12] (tuiuser)" in s)
    tmux("send-keys", "-t", "tui", "-l", "/skip")
    tmux("send-keys", "-t", "tui", "Enter")
    await peer.when(lambda p: bool(p.events("voteskip", USER)), timeout=5)

    # a smaller terminal: everything is laid out again within 80 columns
    tmux("resize-window", "-t", "tui", "-x", "80", "-y", "24")
    await screen_shows(tmux, relaid_out)

    tmux("send-keys", "-t", "tui", "-l", "/afk")
    tmux("send-keys", "-t", "tui", "Enter")
    await screen_shows(tmux, lambda s: f"{USER} 2 afk" in s and "you are AFK" in s)

    tmux("send-keys", "-t", "tui", "-l", "/quit")
    tmux("send-keys", "-t", "tui", "Enter")
    deadline = reactor.seconds() + 8
    while not status.exists():
        assert reactor.seconds() < deadline, f"/quit did not end the client:\n{tmux.screen()}"
        await deferLater(reactor, 0.05, lambda: None)
    errors = stderr.read_text(encoding="utf-8")
    assert status.read_text().strip() == "0", errors
    assert PASSWORD not in errors
    assert "Traceback" not in errors, errors
    await peer.when(lambda p: USER not in p.users, timeout=5)


def test_readme_command_names_the_script() -> None:
    argv = readme_command()
    assert Path(REPO / argv[1]).is_file()
    assert {"--site", "--channel", "--user", "--password-env"} <= set(argv)


def test_input_line_history_and_completion() -> None:
    tui = load_example()
    sent: list[str] = []
    words = ["bob", "Bobby", "alice", "Kappa", "/pm", "/playlist"]
    line = tui.InputLine(sent.append, lambda: words)

    def keys(*pressed: str) -> None:
        for key in pressed:
            line.keypress((80,), key)

    keys(*"one", "enter", *"two", "enter", *"dra")
    assert sent == ["one", "two"]
    assert line.edit_text == "dra"
    keys("up")
    assert line.edit_text == "two"
    keys("up", "up")  # stops at the oldest
    assert line.edit_text == "one"
    keys("down", "down")  # past the newest: the draft comes back
    assert line.edit_text == "dra"
    keys("ctrl u", *"hi bo", "tab")
    assert line.edit_text == "hi bob"  # two choices: the first, no space yet
    keys("tab")
    assert line.edit_text == "hi Bobby"  # Tab again cycles
    keys("tab", " ", *"kap", "tab")
    assert line.edit_text == "hi bob Kappa "  # one choice: completed with a space
    keys("ctrl u", *"/pl", "tab")
    assert line.edit_text == "/playlist "
    keys("ctrl u", *"zzz", "tab")
    assert line.edit_text == "zzz"


def test_control_characters_never_reach_the_terminal() -> None:
    tui = load_example()
    assert tui.clean("a\x1b[2Jb\x07c\x9bd\ne") == "a?[2Jb?c?d?e"
    assert tui.clean("plain ünïcode 👍") == "plain ünïcode 👍"


def test_user_colours_are_stable_and_spread() -> None:
    tui = load_example()
    names = ["alice", "bob", "carol", "dave", "eve", "mallory", "trent", "peggy"]
    attrs = [tui.user_attr(n) for n in names]
    assert attrs == [tui.user_attr(n) for n in names]
    assert tui.user_attr("Bob") == tui.user_attr("bob")
    assert len(set(attrs)) >= 4
    palette = {entry[0] for entry in tui.PALETTE}
    assert set(attrs) <= palette
