"""A real HTTP server for the ``llm`` plugin's tests: twisted.web on 127.0.0.1, port 0, speaking
the OpenAI chat-completions API (``POST /v1/chat/completions``).

Each request is recorded (headers and JSON body). What it answers is up to the test: by default
``choices[0].message.content`` from :attr:`FakeLLM.answers` (then ``"hello there"``) with a
``usage``; :meth:`FakeLLM.then` queues any other answer (a status, headers and a raw body), and
:meth:`FakeLLM.hold` makes the next request wait on a Deferred the test fires (a slow server).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

__all__ = ["FakeLLM", "Reply", "Seen", "completion", "llm_server"]


def completion(text: str, total_tokens: int | None = 42) -> bytes:
    """A chat-completions answer body as the OpenAI API documents it."""
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_800_000_000,
        "model": "test-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
    }
    if total_tokens is not None:
        body["usage"] = {
            "prompt_tokens": total_tokens // 2,
            "completion_tokens": total_tokens - total_tokens // 2,
            "total_tokens": total_tokens,
        }
    return json.dumps(body).encode()


def error_body(message: str, kind: str = "server_error") -> bytes:
    """An OpenAI error body: ``{"error": {"message", "type", "param", "code"}}``."""
    error = {"message": message, "type": kind, "param": None, "code": None}
    return json.dumps({"error": error}).encode()


@dataclass
class Reply:
    """One answer of the server."""

    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})


@dataclass
class Seen:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body["messages"])

    @property
    def prompt(self) -> str:
        """Every message's content, joined."""
        return "\n".join(m["content"] for m in self.messages)


class FakeLLM(Resource):
    """The chat-completions endpoint (see the module docs)."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.base_url = ""
        self.seen: list[Seen] = []
        self.answers: deque[str] = deque()
        self._replies: deque[Reply | Deferred[Reply]] = deque()
        self.open: list[Request] = []

    def then(self, reply: Reply) -> None:
        """Answer the next request with ``reply``."""
        self._replies.append(reply)

    def hold(self) -> Deferred[Reply]:
        """Keep the next request waiting until the returned Deferred fires with a
        :class:`Reply`."""
        d: Deferred[Reply] = Deferred()
        self._replies.append(d)
        return d

    def render_POST(self, request: Request) -> Any:
        headers = {
            k.decode().lower(): v[-1].decode() for k, v in request.requestHeaders.getAllRawHeaders()
        }
        assert request.content is not None
        self.seen.append(Seen(request.path.decode(), headers, request.content.read()))
        if request.path != b"/v1/chat/completions":
            return self._write(request, Reply(404, error_body("no such path", "invalid_request")))
        reply = self._replies.popleft() if self._replies else None
        if isinstance(reply, Deferred):
            self.open.append(request)
            gone = request.notifyFinish()
            gone.addErrback(lambda _: None)
            reply.addCallback(lambda r: None if request.finished else self._finish(request, r))
            return NOT_DONE_YET
        if reply is None:
            text = self.answers.popleft() if self.answers else "hello there"
            reply = Reply(200, completion(text))
        return self._write(request, reply)

    def _finish(self, request: Request, reply: Reply) -> None:
        if getattr(request, "_disconnected", False):
            return
        request.write(self._write(request, reply))
        request.finish()

    @staticmethod
    def _write(request: Request, reply: Reply) -> bytes:
        request.setResponseCode(reply.status)
        for name, value in reply.headers.items():
            request.setHeader(name.encode(), value.encode())
        body = reply.body
        return body.encode() if isinstance(body, str) else body


@pytest.fixture
def llm_server() -> Iterator[FakeLLM]:
    """A :class:`FakeLLM` listening on 127.0.0.1 (``base_url`` ends in ``/v1``)."""
    from twisted.internet import reactor as the_reactor

    reactor: Any = the_reactor
    fake = FakeLLM()
    site = Site(fake)
    site.noisy = False
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    fake.base_url = f"http://127.0.0.1:{port.getHost().port}/v1"
    yield fake
    for d in fake._replies:
        if isinstance(d, Deferred) and not d.called:
            d.callback(Reply(503, b""))
    port.stopListening()
