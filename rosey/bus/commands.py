"""Commands in: NATS requests on ``rosey.commands.<platform>.<channel-token>.<action>``, as
calls on one channel's bot, and the JSON replies.

Pure: no NATS here. :func:`parse` turns an action and a request body into the name and keyword
arguments of an :class:`~rosey.bus.interface.ICommandTarget` method (or raises
:class:`BadRequest`); :class:`CommandHandler` makes the call and turns its outcome into the
reply: ``{"ok": true, …}`` once the CyTube server confirmed the action, or ``{"ok": false,
"error": {"type": …, "message": …}}``. The error types are the names of the bot's own errors
(read from the exception's classes, so the bus never imports the bot): see :data:`ERROR_TYPES`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from rosey.bus.interface import ICommandTarget
from rosey.bus.subjects import channel_token

log = Logger(namespace="rosey.bus.commands")

PREFIX = "rosey.commands"
#: Every command of every channel (what a controller's user must be allowed to publish).
ALL = f"{PREFIX}.>"
#: Seconds a command may take before its reply says ``Timeout`` (the bot's own actions time
#: out sooner: 10 s, 30 s for a queue).
REPLY_WITHIN = 60.0


def command_subject(label: str, action: str, platform: str = "cytube") -> str:
    """``rosey.commands.<platform>.<channel-token>.<action>`` for channel ``label``."""
    return f"{PREFIX}.{platform}.{channel_token(label)}.{action}"


def channel_commands(label: str, platform: str = "cytube") -> str:
    """The subscription for every action of channel ``label``."""
    return command_subject(label, "*", platform)


class BadRequest(Exception):
    """A request that names no action or does not fit the action's keys.

    ``kind`` groups the same mistake for logging (``not JSON``, ``unknown action`` …)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Action:
    """One action's request keys: ``required`` and ``optional`` name -> type, ``defaults`` for
    the optional ones left out; ``choices`` restrict a string key."""

    required: Mapping[str, type] = field(default_factory=dict)
    optional: Mapping[str, type] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: At least one of these keys (and for ``delete`` exactly one).
    one_of: tuple[str, ...] = ()


#: Action -> its request keys (documented in docs/bus.md, "Commands in").
ACTIONS: dict[str, Action] = {
    "say": Action(required={"text": str}),
    "pm": Action(required={"to": str, "text": str}),
    "me": Action(required={"text": str}),
    "queue": Action(
        required={"link": str},
        optional={"position": str},
        defaults={"position": "end"},
        choices={"position": ("end", "next")},
    ),
    "delete": Action(
        optional={"uid": int, "link": str},
        defaults={"uid": None, "link": None},
        one_of=("uid", "link"),
    ),
    "skip": Action(),
    "voteskip": Action(),
    "kick": Action(required={"name": str}, optional={"reason": str}, defaults={"reason": ""}),
    "mute": Action(required={"name": str}),
    "unmute": Action(required={"name": str}),
}


def _type_name(kind: type) -> str:
    return {str: "a string", int: "an integer"}[kind]


def parse(action: str, body: bytes) -> dict[str, Any]:
    """The keyword arguments of ``ICommandTarget.<action>`` for request ``body`` (a JSON object;
    an empty body is ``{}``). Raises :class:`BadRequest` saying what is wrong."""
    spec = ACTIONS.get(action)
    if spec is None:
        raise BadRequest(
            "unknown action", f"unknown action {action!r}; known: {', '.join(sorted(ACTIONS))}"
        )
    try:
        request = json.loads(body) if body.strip() else {}
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("not JSON", f"{action}: the request body is not JSON") from None
    if not isinstance(request, dict):
        raise BadRequest("not an object", f"{action}: the request body is not a JSON object")
    keys = {**spec.required, **spec.optional}
    unknown = sorted(set(request) - set(keys))
    if unknown:
        expected = ", ".join(keys) or "no keys"
        raise BadRequest(
            "unknown key", f"{action}: unknown key {unknown[0]!r} (expected {expected})"
        )
    missing = [k for k in spec.required if k not in request]
    if missing:
        raise BadRequest("missing key", f"{action}: missing key {missing[0]!r}")
    for key, value in request.items():
        kind = keys[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise BadRequest("wrong type", f"{action}: {key!r} must be {_type_name(kind)}")
        allowed = spec.choices.get(key)
        if allowed is not None and value not in allowed:
            raise BadRequest(
                "wrong value", f"{action}: {key!r} must be one of {', '.join(allowed)}"
            )
    if spec.one_of and sum(k in request for k in spec.one_of) != 1:
        raise BadRequest("missing key", f"{action}: give exactly one of {' or '.join(spec.one_of)}")
    return {**spec.defaults, **request}


#: Exception class name -> reply error type. The first of an exception's classes (its MRO)
#: found here wins, so ``TargetNotFound`` is not reported as its base ``ActionRefused``.
ERROR_TYPES: dict[str, str] = {
    "TargetNotFound": "TargetNotFound",
    "ActionRefused": "ActionRefused",
    "QueueFull": "ActionRefused",  # the bot's send queue holds too much already
    "ChannelPermissionError": "ChannelPermissionError",
    "ActionFailed": "ActionFailed",
    # the send queue's refusals by the server
    "Muted": "ActionFailed",
    "SpamFiltered": "ActionFailed",
    "CommandRejected": "ActionFailed",
    "PMFailed": "ActionFailed",
    "NotConnected": "NotConnected",
    "ConnectionClosed": "NotConnected",
    "AckTimeout": "Timeout",
    "TimeoutError": "Timeout",
    "CancelledError": "Timeout",
    "MediaLinkError": "BadRequest",
    "ValueError": "BadRequest",
    "TypeError": "BadRequest",
}


def error_type(error: BaseException) -> str | None:
    """The reply type of ``error``, or None for an error no action should raise (a bug)."""
    for cls in type(error).__mro__:
        found = ERROR_TYPES.get(cls.__name__)
        if found is not None:
            return found
    return None


def ok(result: Mapping[str, Any] | None = None) -> bytes:
    """The reply for a confirmed action, with its extra fields."""
    return json.dumps({"ok": True, **(result or {})}).encode()


def error(kind: str, message: str) -> bytes:
    """The reply for a refused or failed action."""
    return json.dumps({"ok": False, "error": {"type": kind, "message": message}}).encode()


class CommandHandler:
    """Runs the commands of one channel on its :class:`ICommandTarget`; replies never fail.

    A malformed request is logged once per kind of mistake (the reply says it each time).
    """

    def __init__(
        self,
        label: str,
        target: ICommandTarget,
        clock: IReactorTime,
        *,
        timeout: float = REPLY_WITHIN,
        logged: set[str] | None = None,
    ) -> None:
        self.label = label
        self.target = target
        self.clock = clock
        self.timeout = timeout
        self._logged = logged if logged is not None else set()

    def handle(self, action: str, body: bytes) -> Deferred[bytes]:
        """The reply to ``body`` asking for ``action``: fires once the action is confirmed or
        refused (or after :attr:`timeout`), never fails."""
        try:
            kwargs = parse(action, body)
        except BadRequest as e:
            self._bad(e)
            d: Deferred[bytes] = Deferred()
            d.callback(error("BadRequest", e.message))
            return d
        method: Callable[..., Any] = getattr(self.target, action)
        done: Deferred[Any] = maybeDeferred(method, **kwargs)
        done.addTimeout(self.timeout, self.clock)
        return done.addCallbacks(ok, self._failed, errbackArgs=(action,))

    def _bad(self, e: BadRequest) -> None:
        if e.kind not in self._logged:
            self._logged.add(e.kind)
            log.warn(
                "bus command for {channel}: {message} (further requests with this mistake "
                "are answered, not logged)",
                channel=self.label,
                message=e.message,
            )

    def _failed(self, failure: Failure, action: str) -> bytes:
        assert failure.value is not None
        kind = error_type(failure.value)
        if kind is None:
            log.failure(
                "bus command {action} for {channel} failed",
                failure,
                action=action,
                channel=self.label,
            )
            return error("InternalError", f"{action}: an internal error (logged)")
        message = str(failure.value) or type(failure.value).__name__
        if type(failure.value).__name__ in ("TimeoutError", "CancelledError"):
            message = f"{action}: no confirmation from the server in time"
        return error(kind, message)
