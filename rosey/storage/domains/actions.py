"""The user-action log (joins, leaves, PMs, moderation) on SQL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection
from twisted.internet.defer import Deferred
from zope.interface import implementer

from rosey.storage import ops as o
from rosey.storage.domains.base import SQLComponent
from rosey.storage.interface import IActionLog
from rosey.storage.rows import UserAction
from rosey.storage.tables import user_actions

ua = user_actions.c


@implementer(IActionLog)
class SQLActions(SQLComponent):
    """:class:`IActionLog` on SQL."""

    def log_user_action(
        self,
        channel: str,
        username: str,
        action_type: str,
        details: str | None = None,
        timestamp: float | None = None,
    ) -> Deferred[None]:
        op = o.ActionLogged(self.db.now(timestamp), username, action_type, details)
        return self.db.record(channel, [op], "actions.log_user_action")

    def get_user_actions(
        self,
        channel: str,
        username: str | None = None,
        action_type: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Deferred[list[UserAction]]:
        return self.db.read(
            "actions.get_user_actions", channel, [], actions, username, action_type, limit, offset
        )


def actions(
    conn: Connection,
    cid: int,
    channel: str,
    username: str | None,
    action_type: str | None,
    limit: int,
    offset: int,
) -> list[UserAction]:
    """Logged actions, newest first."""
    q = select(user_actions).where(ua.channel_id == cid)
    if username is not None:
        q = q.where(ua.username == username)
    if action_type is not None:
        q = q.where(ua.action_type == action_type)
    q = q.order_by(ua.ts.desc(), ua.id.desc()).limit(limit).offset(offset)
    return [
        UserAction(r.id, channel, r.ts, r.username, r.action_type, r.details)
        for r in conn.execute(q).all()
    ]
