"""Plugins' key/value store on SQL."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection
from twisted.internet.defer import Deferred
from zope.interface import implementer

from rosey.storage.domains.base import SQLComponent
from rosey.storage.interface import IKeyValueStore
from rosey.storage.tables import plugin_kv
from rosey.storage.writes import upsert

kv = plugin_kv.c


@implementer(IKeyValueStore)
class SQLKeyValue(SQLComponent):
    """:class:`IKeyValueStore` on SQL (the ``plugin_kv`` table)."""

    def kv_get(self, channel: str, namespace: str, key: str) -> Deferred[str | None]:
        now = self.db.clock.seconds()
        return self.db.read("kv.kv_get", channel, None, kv_value, namespace, key, now)

    def kv_set(
        self, channel: str, namespace: str, key: str, value: str, ttl: float | None = None
    ) -> Deferred[None]:
        now = self.db.clock.seconds()
        expires = None if ttl is None else now + ttl
        return self.db.write("kv.kv_set", channel, kv_put, namespace, key, value, expires, now)

    def kv_delete(self, channel: str, namespace: str, key: str) -> Deferred[bool]:
        return self.db.read("kv.kv_delete", channel, False, kv_remove, namespace, key)


def kv_value(
    conn: Connection, cid: int, channel: str, namespace: str, key: str, now: float
) -> str | None:
    """A plugin value unless absent or expired."""
    q = select(kv.value, kv.expires_at).where(
        kv.channel_id == cid, kv.namespace == namespace, kv.key == key
    )
    row = conn.execute(q).first()
    if row is None or (row.expires_at is not None and row.expires_at <= now):
        return None
    return str(row.value)


def kv_remove(conn: Connection, cid: int, channel: str, namespace: str, key: str) -> bool:
    """Delete a plugin value; return whether it existed."""
    stmt = delete(plugin_kv).where(kv.channel_id == cid, kv.namespace == namespace, kv.key == key)
    return bool(conn.execute(stmt).rowcount)


def kv_put(
    conn: Connection,
    cid: int,
    namespace: str,
    key: str,
    value: str,
    expires_at: float | None,
    now: float,
) -> None:
    """Store a plugin value (insert or overwrite)."""
    ins = upsert(conn, plugin_kv).values(
        channel_id=cid,
        namespace=namespace,
        key=key,
        value=value,
        expires_at=expires_at,
        updated_at=now,
    )
    conn.execute(
        ins.on_conflict_do_update(
            index_elements=[kv.channel_id, kv.namespace, kv.key],
            set_={
                "value": ins.excluded.value,
                "expires_at": ins.excluded.expires_at,
                "updated_at": ins.excluded.updated_at,
            },
        )
    )
