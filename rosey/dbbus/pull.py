"""One batch at a time from a durable JetStream pull consumer, taken in a subscription callback.

nats-py's ``PullSubscription.fetch`` waits for each message of a batch on its own
(``asyncio.wait_for``: a task and a timer a message on Python 3.11), which was the largest part
of the database service's event loop. :class:`BatchPuller` asks for a batch the same way (the
JetStream API's ``CONSUMER.MSG.NEXT`` request: ``no_wait`` first, then one that waits at most
``timeout``), but the messages arrive through a plain subscription callback that appends them
to a list, and the caller is woken once: when the batch is full or the server ends the request,
or, for the request that waits, once its first messages are in.
The A/B that justified it is in bench/README.md ("the database service").

Every request has its own reply subject under one wildcard subscription, so a status that ends
a request (``404`` no messages, ``408`` expired, ``409`` e.g. leadership change) is never taken
for the end of a later one. Messages that arrive after :meth:`BatchPuller.fetch` returned (a
waiting request the server fills late) are kept and returned first by the next call: they are
delivered to this service and would otherwise wait ``ack_wait`` for a redelivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import nats.errors
import nats.js.errors

#: Status codes that end a pull request without an error (nats-py treats them alike).
_ENDS_REQUEST = frozenset({"404", "408", "409"})
#: Heartbeats and flow control: not an answer to anything here.
_CONTROL = "100"
#: Seconds the client waits beyond a waiting request's ``expires`` for the server's ``408``.
_GRACE = 0.5


class BatchPuller:
    """Fetches batches of the durable consumer ``durable`` of ``stream`` over ``nc``.

    :meth:`start` subscribes (once per connection); :meth:`fetch` returns up to ``batch``
    messages (nats-py ``Msg`` objects: ``ack()`` and ``metadata`` work as usual), an empty list
    when none came within ``timeout`` seconds. Raises ``nats.js.errors.APIError`` for a status
    that is an error (the consumer is gone, the request was bad).
    """

    def __init__(self, nc: Any, stream: str, durable: str, api_prefix: str = "$JS.API") -> None:
        self._nc = nc
        self._next_subject = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._sub: Any = None
        self._requests = 0
        #: The reply subject of the request the caller waits on ("" when none).
        self._current = ""
        self._wanted = 0
        self._messages: list[Any] = []
        self._answered: asyncio.Future[None] | None = None
        self._error: Exception | None = None
        self._interrupted = False
        self._early = False

    async def start(self) -> None:
        """Subscribe to the replies of this puller's requests."""
        self._sub = await self._nc.subscribe(f"{self._inbox}.*", cb=self._on_message)

    async def stop(self) -> None:
        """Unsubscribe (messages delivered and not fetched are redelivered after ack_wait)."""
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._sub.unsubscribe()
            self._sub = None

    def interrupt(self) -> None:
        """End the wait of a fetch (it returns what it has) and ask for nothing more."""
        self._interrupted = True
        self._answer()

    async def fetch(self, batch: int, timeout: float) -> list[Any]:
        """Up to ``batch`` messages: what is there at once, else what comes within ``timeout``;
        after :meth:`interrupt`, only what was delivered already."""
        if len(self._messages) < batch and not self._interrupted:
            # Answered at once (the batch, or what there is and a 404) unless the link is down.
            await self._request({"batch": batch - len(self._messages), "no_wait": True}, timeout)
        if not self._messages and not self._interrupted:
            expires = int(timeout * 1e9)
            await self._request({"batch": batch, "expires": expires}, timeout + _GRACE, early=True)
        taken, self._messages = self._messages[:batch], self._messages[batch:]
        return taken

    async def _request(self, body: dict[str, Any], timeout: float, early: bool = False) -> None:
        """Send one pull request; wait until it is answered, at most ``timeout`` seconds.
        ``early``: also once the first messages came (those that arrived together), so that
        an event on a quiet channel is written at once, not when the request expires; the rest
        of the request stays open on the server and what it delivers is kept for the next
        fetch."""
        self._requests += 1
        self._early = early
        self._current = f"{self._inbox}.{self._requests}"
        self._wanted = len(self._messages) + body["batch"]
        self._error = None
        answered = self._answered = asyncio.get_running_loop().create_future()
        try:
            await self._nc.publish(
                self._next_subject, json.dumps(body).encode(), reply=self._current
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(answered, timeout)
        finally:
            self._current, self._answered = "", None
        if self._error is not None:
            raise self._error

    def _answer(self) -> None:
        if self._answered is not None:
            _settle(self._answered)

    async def _on_message(self, msg: Any) -> None:
        headers = msg.headers
        status = headers.get("Status") if headers else None
        if not status:
            self._messages.append(msg)
            if len(self._messages) >= self._wanted:
                self._answer()
            elif self._early and self._answered is not None:
                # After the messages already read with this one (this callback runs for each
                # before the loop turns); bound to this request's future, not a later one's.
                self._early = False
                asyncio.get_running_loop().call_soon(_settle, self._answered)
            return
        if status == _CONTROL or msg.subject != self._current:
            return  # a heartbeat, or the end of a request nobody waits on any more
        if status not in _ENDS_REQUEST:
            description = headers.get("Description", "")
            code = int(status) if status.isdigit() else None
            self._error = nats.js.errors.APIError(code=code, description=description)
        self._answer()


def _settle(answered: asyncio.Future[None]) -> None:
    if not answered.done():
        answered.set_result(None)
