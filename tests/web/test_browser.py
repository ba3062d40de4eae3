"""Real headless Chromium loads the status page from a running daemon fed by the socket.io
peer: users, now playing and the charts show; a chat line sent by the peer appears live without
a reload; markup in chat, a user name and a media title shows as text and runs nothing. A
screenshot is written to the test's directory (and to ``$ROSEY_ARTIFACTS`` when set).

Skipped only when ``chromium`` is not installed and ``CI`` is not set (CI installs it).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor, utils
from twisted.internet.defer import Deferred

from tests.waiting import eventually
from tests.web.conftest import NAME, RUNS, Running

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Markup that would change the page's title if it ever ran.
CHAT = f"<script>document.title='pwned'</script>{RUNS} \"quotes\" 'single' שלום"

if CHROMIUM is None and os.environ.get("CI"):
    raise RuntimeError("CI is set but chromium is not installed (.ci/run installs it)")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)


async def chromium(profile: Path, *args: str, timeout: float = 60.0) -> str:
    """Run headless Chromium with its profile in ``profile``; its stdout. Fails if it does not
    exit within ``timeout`` s."""
    assert CHROMIUM is not None
    argv = [
        "--headless",
        "--no-sandbox",  # root in a container has no user namespaces
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    d: Deferred[tuple[bytes, bytes, int]] = utils.getProcessOutputAndValue(
        "/usr/bin/timeout", [str(int(timeout)), CHROMIUM, *argv], env=dict(os.environ)
    )
    out, err, code = await d.addTimeout(timeout + 30, reactor)  # children reaped: conftest
    assert code == 0, err.decode("utf-8", "replace")[-2000:]
    return out.decode("utf-8")


@pytest_twisted.ensureDeferred
async def test_the_page_in_chromium(running: Running, tmp_path: Path) -> None:
    peer, daemon, base, data = running
    peer.add_virtual_user("alice", 2)
    peer.add_virtual_user(NAME, 1)
    peer.queue_media("xss1")
    bot = next(iter(daemon.bots.values()))
    await eventually(lambda: bot.mirror.playlist.now_playing is not None, 10)
    await eventually(lambda: NAME in bot.mirror.users, 10)
    live = next(iter(data.feeds.values()))
    url = f"{base}/channels/{next(iter(data.feeds)).replace(':', '%3A')}"

    # Chromium loads the page; its virtual clock stands still while the live stream is open.
    # Once the stream is open the peer says a line; the page shows it and closes the stream
    # (#live-lines=1), then the clock runs out its budget and Chromium dumps the DOM.
    dumping = Deferred.fromCoroutine(
        chromium(
            tmp_path / "profile",
            "--virtual-time-budget=5000",
            "--window-size=1200,2200",
            "--dump-dom",
            url + "#live-lines=1",
        )
    )
    await eventually(lambda: live.streams >= 1, 30)
    peer.chat("alice", CHAT)
    dom = await dumping

    assert 'data-charts="ready"' in dom, dom[:300]
    points = re.search(r'data-user-points="(\d+)"', dom)
    assert points is not None
    assert int(points.group(1)) > 100  # a day of 5-minute samples from the stored history
    assert 'data-chat-received="1"' in dom
    assert "<title>pwned" not in dom
    # Users, now playing, the live line: all as text.
    users = dom[dom.index('id="user-list"') :]
    assert "labbot" in users
    assert "alice" in users
    assert "&lt;b&gt;evil&lt;/b&gt;" in users
    assert "<b>evil</b>" not in dom
    assert "&lt;img src=x onerror=" in dom
    assert "<img" not in dom
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    assert "שלום" in dom
    assert "مرحبا" in dom
    assert "uplot" in dom  # the charts' canvases

    shot = tmp_path / "status-page.png"
    await chromium(
        tmp_path / "profile",
        "--virtual-time-budget=5000",
        "--window-size=1200,2000",
        f"--screenshot={shot}",
        url + "#live-lines=0",
    )
    assert shot.stat().st_size > 10_000
    artifacts = os.environ.get("ROSEY_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / shot.name)
