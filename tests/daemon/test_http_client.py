"""The daemon's HTTP client behind the plugins' ``api.post_json``: real treq against a real
twisted.web server on 127.0.0.1, the timeout on a ``task.Clock``, and the way it reaches a
plugin (PluginManager -> PluginHost -> PluginAPI)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import pytest_twisted
from twisted.internet import task
from twisted.internet.defer import CancelledError
from zope.interface.verify import verifyObject

from rosey.api import HTTPFailed, IHTTPClient, IPluginAPI
from rosey.api_impl import PluginAPI
from rosey.daemon.http_client import TreqHTTPClient
from rosey.daemon.plugin_host import PluginHost
from rosey.plugin import Plugin, PluginFactory
from tests.plugins.lab import Lab
from tests.plugins.llm_server import FakeLLM, Reply, completion, llm_server
from tests.waiting import eventually

__all__ = ["llm_server"]


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def test_it_provides_the_interface() -> None:
    assert verifyObject(IHTTPClient, TreqHTTPClient(_reactor()))


@pytest_twisted.ensureDeferred
async def test_a_post_and_its_answer(llm_server: FakeLLM) -> None:
    client = TreqHTTPClient(_reactor())
    url = llm_server.base_url + "/chat/completions"
    response = await client.post_json(url, {"a": [1, "é"]}, {"X-Token": "t0k"}, 5, 1 << 20)
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert response.body == completion("hello there")
    seen = llm_server.seen[0]
    assert seen.body == {"a": [1, "é"]}
    assert seen.headers["x-token"] == "t0k"
    llm_server.then(Reply(503, b"busy", {"retry-after": "3"}))
    response = await client.post_json(url, {}, {}, 5, 1 << 20)
    assert (response.status, response.headers["retry-after"], response.body) == (503, "3", b"busy")


@pytest_twisted.ensureDeferred
async def test_an_answer_too_big(llm_server: FakeLLM) -> None:
    llm_server.then(Reply(200, b"x" * 5000))
    client = TreqHTTPClient(_reactor())
    with pytest.raises(HTTPFailed, match="over 1,000 bytes"):
        await client.post_json(llm_server.base_url + "/chat/completions", {}, {}, 5, 1000)


@pytest_twisted.ensureDeferred
async def test_nobody_listening() -> None:
    client = TreqHTTPClient(_reactor())
    with pytest.raises(HTTPFailed, match="ConnectionRefused") as caught:
        await client.post_json("http://127.0.0.1:1/v1", {}, {"Authorization": "Bearer k3y"}, 5, 99)
    assert "k3y" not in str(caught.value)


@pytest_twisted.ensureDeferred
async def test_the_timeout_runs_on_the_given_clock(llm_server: FakeLLM) -> None:
    clock = task.Clock()
    slow = llm_server.hold()
    client = TreqHTTPClient(_reactor(), clock=clock)
    d = client.post_json(llm_server.base_url + "/chat/completions", {}, {}, 10, 1 << 20)
    await eventually(lambda: len(llm_server.seen) == 1)
    clock.advance(9.9)
    assert not d.called
    clock.advance(0.2)
    with pytest.raises(HTTPFailed, match="no answer within 10 s"):
        await d
    slow.callback(Reply(200, b"{}"))


@pytest_twisted.ensureDeferred
async def test_cancelling_abandons_the_request(llm_server: FakeLLM) -> None:
    llm_server.hold()
    client = TreqHTTPClient(_reactor(), clock=task.Clock())
    d = client.post_json(llm_server.base_url + "/chat/completions", {}, {}, 10, 1 << 20)
    await eventually(lambda: len(llm_server.seen) == 1)
    d.cancel()
    with pytest.raises(CancelledError):
        await d


@pytest_twisted.ensureDeferred
async def test_without_a_client_a_post_fails_cleanly() -> None:
    api = PluginAPI(Lab().bot, "probe")
    with pytest.raises(HTTPFailed, match="no HTTP client"):
        await api.post_json("http://127.0.0.1:1/", {})


class Poster(Plugin):
    """Posts once when started; the answer lands in ``answers``."""

    answers: ClassVar[list[int]] = []
    url: ClassVar[str] = ""

    def start(self) -> None:
        self.api.post_json(self.url, {"hello": 1}).addCallback(
            lambda r: self.answers.append(r.status)
        )


@pytest_twisted.ensureDeferred
async def test_the_host_hands_its_client_to_the_plugins(llm_server: FakeLLM) -> None:
    Poster.url = llm_server.base_url + "/chat/completions"
    Poster.answers = []
    lab = Lab()
    factory = PluginFactory("poster", Poster)
    host = PluginHost(
        lab.bot, "labchan", [("poster", factory, None)], http=TreqHTTPClient(_reactor())
    )
    host.setServiceParent(lab.bot)
    lab.join()
    await eventually(lambda: Poster.answers == [200])
    assert isinstance(host.instances["poster"], Poster)
    assert IPluginAPI.providedBy(host.instances["poster"].api)
    lab.bot.stopService()
