"""Answering twisted.web requests with JSON, from a coroutine, without leaking errors."""

from __future__ import annotations

import json
from collections.abc import Coroutine
from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.server import NOT_DONE_YET, Request

log = Logger(namespace="rosey.web")


class HTTPError(Exception):
    """An answer other than 200: its status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_body(value: Any) -> bytes:
    """``value`` as compact JSON (UTF-8), ``<`` escaped so that it is safe inside HTML too."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").encode("utf-8")


def write_json(request: Request, value: Any, status: int = 200) -> bytes:
    """Set the status and headers of a JSON answer; the body to return or write."""
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    request.setHeader(b"x-content-type-options", b"nosniff")
    return json_body(value)


def error(request: Request, status: int, message: str) -> bytes:
    """A JSON error answer: ``{"error": message}``."""
    return write_json(request, {"error": message}, status)


def answer_later(request: Request, work: Coroutine[Any, Any, Any]) -> object:
    """Run ``work`` and answer with its value as JSON (an :class:`HTTPError` as its status, any
    other failure as a logged 503); cancelled if the client goes away. For ``render_*``."""
    d: Deferred[Any] = Deferred.fromCoroutine(work)
    gone = False

    def finished(_: object) -> None:
        nonlocal gone
        gone = True
        d.cancel()

    request.notifyFinish().addErrback(finished)

    def done(value: Any) -> None:
        if not gone:
            request.write(write_json(request, value))
            request.finish()

    def failed(failure: Failure) -> None:
        if gone or failure.check(CancelledError):
            return
        if failure.check(HTTPError):
            e: HTTPError = failure.value  # type: ignore[assignment]
            body = error(request, e.status, e.message)
        else:
            log.failure("{uri} failed", failure, uri=request.uri)
            body = error(request, 503, "storage is unavailable; try again later")
        request.write(body)
        request.finish()

    d.addCallbacks(done, failed)
    return NOT_DONE_YET
