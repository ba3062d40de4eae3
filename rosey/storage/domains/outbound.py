"""Outbound messages (``!tell``) on SQL, with :class:`~rosey.storage.waiting.WaitingRecipients`
answering "may this user have messages?" from memory."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection
from twisted.internet.defer import Deferred
from zope.interface import implementer

from rosey.storage.domains.base import SQLComponent, SQLDatabase
from rosey.storage.errors import StorageError
from rosey.storage.interface import IOutboundStore
from rosey.storage.rows import OutboundMessage
from rosey.storage.tables import channels, outbound_messages
from rosey.storage.waiting import WaitingRecipients

ob = outbound_messages.c


@implementer(IOutboundStore)
class SQLOutbound(SQLComponent):
    """:class:`IOutboundStore` on SQL. :meth:`start` loads who has messages waiting (the
    storage calls it on connect), :meth:`stop` ends the periodic reload."""

    def __init__(self, db: SQLDatabase) -> None:
        super().__init__(db)
        self.waiting = WaitingRecipients(db.clock, self.get_outbound_recipients)
        self.started = False

    def start(self) -> Deferred[None]:
        """Load the waiting recipients; never fails (until it works, every answer is maybe)."""
        self.started = True
        return self.waiting.load()

    def stop(self) -> None:
        """Stop reloading; from now on every answer is maybe."""
        self.started = False
        self.waiting.stop()

    def enqueue_outbound(
        self,
        channel: str,
        recipient: str | None,
        message: str,
        sender: str | None = None,
        timestamp: float | None = None,
    ) -> Deferred[int]:
        now = self.db.now(timestamp)
        return self.waiting.enqueue(
            channel,
            recipient,
            lambda: self.db.write(
                "outbound.enqueue_outbound",
                channel,
                outbound_insert,
                now,
                recipient,
                message,
                sender,
            ),
        )

    def get_unsent_outbound(
        self, channel: str, recipient: str, limit: int = 10, max_retries: int | None = None
    ) -> Deferred[list[OutboundMessage]]:
        none: list[OutboundMessage] = []
        return self.waiting.read(
            channel,
            recipient,
            lambda: self.db.read(
                "outbound.get_unsent_outbound",
                channel,
                none,
                outbound_unsent,
                recipient,
                limit,
                max_retries,
            ),
        )

    def get_outbound_recipients(self) -> Deferred[list[tuple[str, str | None]]]:
        return self.db.pool.run_interaction("outbound.load_waiting", outbound_recipients)

    def may_have_outbound(self, channel: str, recipient: str) -> bool:
        # Closed (or not yet open): nothing is known, and asking is what reports the outage.
        return not self.started or self.waiting.may_have(channel, recipient)

    def mark_outbound_sent(
        self, channel: str, message_id: int, timestamp: float | None = None
    ) -> Deferred[None]:
        now = self.db.now(timestamp)
        return self.db.read(
            "outbound.mark_outbound_sent", channel, None, outbound_sent, message_id, now
        )

    def mark_outbound_failed(self, channel: str, message_id: int, error: str) -> Deferred[int]:
        db = self.db

        def run(conn: Connection) -> int:
            cid = db.cid(conn, channel)
            if cid is None:
                raise StorageError(f"no outbound message {message_id} in {channel}")
            return outbound_failed(conn, cid, channel, message_id, error)

        return db.pool.run_interaction("outbound.mark_outbound_failed", run)


# -- on a database thread -----------------------------------------------------------------------


def outbound_insert(
    conn: Connection,
    cid: int,
    created_at: float,
    recipient: str | None,
    message: str,
    sender: str | None,
) -> int:
    """Queue an outbound message; return its id."""
    result = conn.execute(
        outbound_messages.insert().values(
            channel_id=cid,
            created_at=created_at,
            recipient=recipient,
            sender=sender,
            message=message,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def outbound_unsent(
    conn: Connection,
    cid: int,
    channel: str,
    recipient: str,
    limit: int,
    max_retries: int | None,
) -> list[OutboundMessage]:
    """Unsent messages for a recipient (case-insensitive), oldest first."""
    q = select(outbound_messages).where(
        ob.channel_id == cid,
        ob.sent.is_(False),
        func.lower(ob.recipient) == recipient.lower(),
    )
    if max_retries is not None:
        q = q.where(ob.retry_count < max_retries)
    q = q.order_by(ob.created_at, ob.id).limit(limit)
    return [_outbound(channel, r) for r in conn.execute(q).all()]


def outbound_recipients(conn: Connection) -> list[tuple[str, str | None]]:
    """(channel, recipient) of every unsent message in every channel, each pair once."""
    q = (
        select(channels.c.name, ob.recipient)
        .join(channels, channels.c.id == ob.channel_id)
        .where(ob.sent.is_(False))
        .distinct()
    )
    return [(str(name), recipient) for name, recipient in conn.execute(q).all()]


def outbound_sent(conn: Connection, cid: int, channel: str, message_id: int, now: float) -> None:
    """Mark a message delivered."""
    stmt = update(outbound_messages).where(ob.id == message_id, ob.channel_id == cid)
    conn.execute(stmt.values(sent=True, sent_at=now))


def outbound_failed(conn: Connection, cid: int, channel: str, message_id: int, error: str) -> int:
    """Count a failed delivery; return the new retry count."""
    where = (ob.id == message_id, ob.channel_id == cid)
    stmt = update(outbound_messages).where(*where)
    conn.execute(stmt.values(retry_count=ob.retry_count + 1, last_error=error))
    count = conn.execute(select(ob.retry_count).where(*where)).scalar_one_or_none()
    if count is None:
        raise StorageError(f"no outbound message {message_id} in {channel}")
    return int(count)


def _outbound(channel: str, r: Any) -> OutboundMessage:
    return OutboundMessage(
        id=r.id,
        channel=channel,
        created_at=r.created_at,
        recipient=r.recipient,
        sender=r.sender,
        message=r.message,
        sent=bool(r.sent),
        sent_at=r.sent_at,
        retry_count=r.retry_count,
        last_error=r.last_error,
    )
