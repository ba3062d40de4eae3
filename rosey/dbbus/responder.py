"""The responder: answers ``rosey.db.*`` requests from an ``IStorage`` (in the database service).

:class:`StorageResponder` subscribes ``rosey.db.>`` on a nats-py connection with a queue group
(several services share the requests: each goes to one of them) and calls the storage method
the subject names (:mod:`rosey.dbbus.methods`) with the request's arguments. The reply is
``{"ok": true, "result": …}`` or a typed error (:mod:`rosey.dbbus.errors`); never a traceback.
A request that does not decode or does not fit the method gets a ``BadRequest`` reply and one
log line. Each request waits in its own task, so a slow query never holds up the next.

It runs on Twisted's asyncio reactor (the storage's Deferreds fire on the same loop).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import nats.errors
from twisted.internet.defer import maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from rosey.dbbus import codec
from rosey.dbbus.errors import BAD_REQUEST, KNOWN, UNKNOWN_METHOD, error_type
from rosey.dbbus.methods import BY_SUBJECT, WILDCARD, StorageMethod
from rosey.storage.errors import StorageError
from rosey.storage.interface import IStorage

log = Logger(namespace="rosey.dbbus")

#: The queue group every responder joins.
QUEUE = "rosey-db"


class BadRequest(Exception):
    """A request the responder cannot act on (the message says why)."""


class StorageResponder:
    """Answers ``rosey.db.*`` requests from ``storage``.

    ``await start(nc)`` subscribes on the nats-py connection ``nc`` (owned by the caller, who
    closes it after :meth:`stop`); ``await stop()`` unsubscribes and waits up to ``timeout``
    seconds for the requests still running. ``answered`` and ``failed`` count the replies
    (``failed``: error replies of any type).
    """

    def __init__(
        self,
        storage: IStorage,
        *,
        queue: str = QUEUE,
        methods: dict[str, StorageMethod] | None = None,
    ) -> None:
        self.storage = storage
        self.queue = queue
        self.methods = BY_SUBJECT if methods is None else methods
        self.answered = 0
        self.failed = 0
        self._sub: Any = None
        self._running: set[asyncio.Task[None]] = set()

    async def start(self, nc: Any) -> None:
        """Subscribe ``rosey.db.>`` (queue group ``queue``) on ``nc``."""
        self._sub = await nc.subscribe(WILDCARD, queue=self.queue, cb=self._on_request)
        log.info("rosey.db: answering {n} storage methods", n=len(self.methods))

    async def stop(self, timeout: float = 5.0) -> None:
        """Take no more requests; let those running answer within ``timeout`` seconds."""
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._sub.unsubscribe()
            self._sub = None
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout)

    async def _on_request(self, msg: Any) -> None:
        # nats-py awaits this before the next message: answer from a task.
        task = asyncio.ensure_future(self._answer(msg))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _answer(self, msg: Any) -> None:
        reply = await self.handle(msg.subject, msg.data)
        if not msg.reply:
            return  # a plain publish: acted on, nobody to answer
        try:
            await msg.respond(reply)
        except (TimeoutError, nats.errors.Error) as e:
            log.warn("rosey.db: cannot answer {subject}: {error}", subject=msg.subject, error=e)

    async def handle(self, subject: str, data: bytes) -> bytes:
        """The reply to one request on ``subject`` (never raises)."""
        try:
            method, args = self._parse(subject, data)
        except BadRequest as e:
            log.warn("rosey.db: bad request on {subject}: {error}", subject=subject, error=e)
            kind = UNKNOWN_METHOD if subject not in self.methods else BAD_REQUEST
            return self._error(kind, str(e))
        call = getattr(self.storage, method.name)
        try:
            result = await maybeDeferred(call, **args).asFuture(asyncio.get_running_loop())
        except Exception as e:
            return self._failed(method, e)
        try:
            body = codec.dumps({"ok": True, "result": codec.encode(result)})
        except (codec.CodecError, TypeError, ValueError) as e:
            return self._crashed(method, e)
        self.answered += 1
        return body

    def _parse(self, subject: str, data: bytes) -> tuple[StorageMethod, dict[str, Any]]:
        method = self.methods.get(subject)
        if method is None:
            raise BadRequest(f"no storage method is served on {subject}")
        try:
            message = codec.loads(data) if data.strip() else {}
            extra = set(message) - {"args"}
            if extra:
                raise BadRequest(f"unknown keys {sorted(extra)} (a request is {{'args': {{…}}}})")
            args = message.get("args", {})
            if not isinstance(args, dict):
                raise BadRequest(f"'args' must be an object, not {type(args).__name__}")
            args = {k: codec.decode(v) for k, v in args.items()}
            method.check(args)
        except (codec.CodecError, TypeError) as e:
            raise BadRequest(str(e)) from None
        return method, args

    def _failed(self, method: StorageMethod, error: Exception) -> bytes:
        kind = error_type(error)
        if kind in KNOWN and isinstance(error, StorageError | ValueError | KeyError):
            log.info(
                "rosey.db: {method} failed: {kind}: {error}",
                method=method.name,
                kind=kind,
                error=error,
            )
            return self._error(kind, str(error))
        return self._crashed(method, error)

    def _crashed(self, method: StorageMethod, error: Exception) -> bytes:
        # A bug (or a value the codec cannot send): the traceback stays in the service's log.
        log.failure("rosey.db: {method} crashed", Failure(error), method=method.name)
        return self._error("StorageError", f"{method.name} failed in the database service")

    def _error(self, kind: str, message: str) -> bytes:
        self.failed += 1
        return codec.dumps({"ok": False, "error": {"type": kind, "message": message}})
