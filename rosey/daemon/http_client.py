""":class:`TreqHTTPClient`: the daemon's :class:`~rosey.api.IHTTPClient`, behind the plugins'
``api.post_json`` (the plugins and the plugin API import no HTTP code; the daemon hands this in).

One JSON POST, the answer read chunk by chunk up to a size bound (past it treq closes the
connection), the whole exchange bounded by a timeout on ``clock`` (the reactor; a test's
``task.Clock``). Cancelling the returned Deferred abandons the request. Failures are
:class:`~rosey.api.HTTPFailed` with a short reason; header values (API keys) never appear in
them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from twisted.internet.defer import CancelledError, Deferred, TimeoutError
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from rosey.api import HTTPFailed, HTTPResponse, IHTTPClient
from rosey.wire.bounded_body import BodyTooBig, read_body
from rosey.wire.endpoints import default_http

__all__ = ["TreqHTTPClient"]


@implementer(IHTTPClient)
class TreqHTTPClient:
    """POSTs JSON with treq over a non-persistent pool (no connection to close on stop).

    ``clock`` drives the timeout (default: ``reactor``). The treq client is made at the first
    POST, so a daemon whose plugins never post builds none."""

    def __init__(self, reactor: Any, clock: IReactorTime | None = None) -> None:
        self._reactor = reactor
        self._client: Any = None
        self._clock: IReactorTime = clock if clock is not None else reactor

    def post_json(
        self, url: str, body: Any, headers: Mapping[str, str], timeout: float, max_body: int
    ) -> Deferred[HTTPResponse]:
        d = Deferred.fromCoroutine(self._post(url, body, headers, max_body))
        timed_out = False

        def on_timeout(result: Any, seconds: float) -> Any:
            nonlocal timed_out
            timed_out = True
            return result

        d.addTimeout(timeout, self._clock, onTimeoutCancel=on_timeout)

        def failed(failure: Any) -> Any:
            if failure.check(HTTPFailed):
                return failure
            if timed_out or failure.check(TimeoutError):
                raise HTTPFailed(f"no answer within {timeout:g} s")
            if isinstance(_cause(failure.value), CancelledError):
                raise CancelledError()  # the caller cancelled (treq wraps it)
            raise HTTPFailed(_describe(failure.value))

        return d.addErrback(failed)

    async def _post(
        self, url: str, body: Any, headers: Mapping[str, str], max_body: int
    ) -> HTTPResponse:
        if self._client is None:
            self._client = cast(Any, default_http(self._reactor)[0])
        sent = {name: [value] for name, value in headers.items()}
        response = await self._client.post(url, json=body, headers=sent)
        try:
            data = await read_body(response, max_body)
        except BodyTooBig as e:
            raise HTTPFailed(str(e)) from None
        answer = {
            name.decode("latin-1").lower(): values[-1].decode("latin-1")
            for name, values in response.headers.getAllRawHeaders()
        }
        return HTTPResponse(status=response.code, headers=answer, body=data)


def _cause(e: BaseException) -> BaseException:
    """The first reason inside treq's ``ResponseFailed``/``ResponseNeverReceived``, or ``e``."""
    reasons = getattr(e, "reasons", None)
    return reasons[0].value if reasons else e


def _describe(e: BaseException) -> str:
    """A short reason: the exception's class and first line (never the request's headers)."""
    e = _cause(e)
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__
