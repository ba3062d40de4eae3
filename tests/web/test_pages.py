"""The HTML pages and static files: escaped, complete, served from the package."""

from __future__ import annotations

from typing import Any

import pytest_twisted
import treq

from tests.web.conftest import RTL, Served


async def fetch(served: Served, path: str, status: int = 200) -> tuple[str, Any]:
    response = await treq.get(served.base + path)
    body = await response.text("utf-8")
    assert response.code == status, body
    return body, response.headers


@pytest_twisted.ensureDeferred
async def test_the_channel_page_escapes_every_user_string(served: Served):
    html, headers = await fetch(served, "/channels/cytu.be/WebChan")
    assert headers.getRawHeaders("content-type")[0].startswith("text/html")
    assert "default-src 'self'" in headers.getRawHeaders("content-security-policy")[0]
    assert html.count("<!DOCTYPE html>") == 1
    assert "<script>window.pwned" not in html
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html  # the title
    assert "&lt;script&gt;window.pwned</span>" in html  # the user name (20 characters)
    assert RTL in html  # the next item, as text
    assert "javascript:" not in html
    assert 'data-api="/api/channels/cytu.be/WebChan"' in html
    for shown in ("alice", "bob_afk", "queued by", "user5"):
        assert shown in html
    assert html.count("<script") == 2  # uPlot and app.js, nothing else


@pytest_twisted.ensureDeferred
async def test_the_index_and_static_files(served: Served):
    html, _ = await fetch(served, "/")
    assert 'href="/channels/cytu.be/WebChan"' in html
    assert "cytu.be/quiet" in html
    assert "&lt;script&gt;" in html
    assert "<script>window" not in html
    js, headers = await fetch(served, "/static/app.js")
    assert "EventSource" in js
    assert headers.getRawHeaders("content-type")[0].startswith("text/javascript")
    assert "uPlot" in (await fetch(served, "/static/uPlot.iife.min.js"))[0]
    assert "MIT" in (await fetch(served, "/static/uPlot.LICENSE"))[0]
    await fetch(served, "/static/", 404)
    await fetch(served, "/nothing", 404)
    await fetch(served, "/channels/cytu.be", 404)
