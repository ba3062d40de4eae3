"""The SQL implementation of :class:`IStorage` (SQLAlchemy Core; SQLite or PostgreSQL).

A composite of one component per domain (:mod:`rosey.storage.domains`), all sharing one
:class:`~rosey.storage.domains.base.SQLDatabase` on one :class:`~rosey.storage.pool.DBPool`.
Writes are :mod:`rosey.storage.ops` applied by :mod:`rosey.storage.writes`.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, Engine
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from rosey.storage.composite import via
from rosey.storage.domains.actions import SQLActions
from rosey.storage.domains.base import SQLDatabase
from rosey.storage.domains.bus_events import SQLBusEvents
from rosey.storage.domains.chat import SQLChat
from rosey.storage.domains.kv import SQLKeyValue
from rosey.storage.domains.media import SQLMedia
from rosey.storage.domains.outbound import SQLOutbound
from rosey.storage.domains.retention import SQLRetention
from rosey.storage.domains.stats import SQLStats
from rosey.storage.engine import make_engine, safe_url
from rosey.storage.interface import IBusEventStore, IStorage
from rosey.storage.pool import DBPool, InteractionObserver


@implementer(IStorage, IBusEventStore)
class SQLStorage:
    """:class:`IStorage` on a SQL database.

    ``url_or_engine`` is a database URL (``sqlite:///path``, ``postgresql://…``) or an engine
    made by :func:`rosey.storage.engine.make_engine`. ``clock`` stamps writes that carry no
    timestamp and times retries (default: ``reactor``). ``busy_timeout``, ``threads``,
    ``retries`` and ``backoff`` tune the engine and the pool; ``on_interaction(name, seconds)``
    hears each transaction's duration (see :class:`~rosey.storage.pool.DBPool`).

    Its components: ``chat``, ``stats``, ``media``, ``actions``, ``outbound``, ``kv``,
    ``retention`` (:data:`~rosey.storage.interface.DOMAINS`), sharing ``db``; and ``bus_events``,
    the database service's exactly-once writes (:class:`~rosey.storage.interface.IBusEventStore`).
    """

    persistent = True

    def __init__(
        self,
        url_or_engine: str | URL | Engine,
        reactor: IReactorTime,
        *,
        clock: IReactorTime | None = None,
        busy_timeout: float = 5.0,
        threads: int | None = None,
        retries: int = 3,
        backoff: float = 0.05,
        check_schema: bool = True,
        on_interaction: InteractionObserver | None = None,
    ) -> None:
        engine = (
            url_or_engine
            if isinstance(url_or_engine, Engine)
            else make_engine(url_or_engine, busy_timeout=busy_timeout)
        )
        clock = clock if clock is not None else reactor
        pool = DBPool(
            engine,
            reactor,
            clock=clock,
            threads=threads,
            retries=retries,
            backoff=backoff,
            on_interaction=on_interaction,
        )
        self._check_schema = check_schema
        self.is_connected = False
        self.db = SQLDatabase(pool, clock)
        self.chat = SQLChat(self.db)
        self.stats = SQLStats(self.db)
        self.media = SQLMedia(self.db)
        self.actions = SQLActions(self.db)
        self.outbound = SQLOutbound(self.db)
        self.kv = SQLKeyValue(self.db)
        self.retention = SQLRetention(self.db)
        self.bus_events = SQLBusEvents(self.db)

    def __repr__(self) -> str:
        return f"<SQLStorage {safe_url(self.pool.engine.url)}>"

    @property
    def pool(self) -> DBPool:
        """The thread pool every transaction runs on."""
        return self.db.pool

    @property
    def dropped_ops(self) -> int:
        """Write operations dropped because the database refused them even after cleaning."""
        return self.db.dropped_ops

    # -- lifecycle ----------------------------------------------------------------------------

    def connect(self) -> Deferred[None]:
        """Start the pool and check that the schema is at the head revision."""
        return Deferred.fromCoroutine(self._connect())

    async def _connect(self) -> None:
        self.pool.start()
        if self._check_schema:
            from rosey.storage import schema  # Alembic: only when asked to check

            await self.pool.run_interaction("check_schema", schema.check_current)
        await self.outbound.start()
        self.is_connected = True

    def close(self) -> Deferred[None]:
        """Dispose of the connections and stop the pool."""
        self.is_connected = False
        self.outbound.stop()
        return self.pool.stop()

    # -- the domains --------------------------------------------------------------------------

    record = via("db", SQLDatabase.record)

    save_message = via("chat", SQLChat.save_message)
    get_recent_messages = via("chat", SQLChat.get_recent_messages)
    get_chat_activity = via("chat", SQLChat.get_chat_activity)
    get_chatters_between = via("chat", SQLChat.get_chatters_between)

    save_user_stats = via("stats", SQLStats.save_user_stats)
    update_channel_stats = via("stats", SQLStats.update_channel_stats)
    log_user_count = via("stats", SQLStats.log_user_count)
    set_status = via("stats", SQLStats.set_status)
    get_user_stats = via("stats", SQLStats.get_user_stats)
    get_all_user_stats = via("stats", SQLStats.get_all_user_stats)
    get_top_chatters = via("stats", SQLStats.get_top_chatters)
    get_channel_stats = via("stats", SQLStats.get_channel_stats)
    get_user_count_history = via("stats", SQLStats.get_user_count_history)
    get_user_count_series = via("stats", SQLStats.get_user_count_series)
    get_status = via("stats", SQLStats.get_status)

    log_media = via("media", SQLMedia.log_media)
    get_media_history = via("media", SQLMedia.get_media_history)
    get_most_played = via("media", SQLMedia.get_most_played)

    log_user_action = via("actions", SQLActions.log_user_action)
    get_user_actions = via("actions", SQLActions.get_user_actions)

    enqueue_outbound = via("outbound", SQLOutbound.enqueue_outbound)
    get_unsent_outbound = via("outbound", SQLOutbound.get_unsent_outbound)
    get_outbound_recipients = via("outbound", SQLOutbound.get_outbound_recipients)
    may_have_outbound = via("outbound", SQLOutbound.may_have_outbound)
    mark_outbound_sent = via("outbound", SQLOutbound.mark_outbound_sent)
    mark_outbound_failed = via("outbound", SQLOutbound.mark_outbound_failed)

    kv_get = via("kv", SQLKeyValue.kv_get)
    kv_set = via("kv", SQLKeyValue.kv_set)
    kv_delete = via("kv", SQLKeyValue.kv_delete)

    prune = via("retention", SQLRetention.prune)
    count_prunable = via("retention", SQLRetention.count_prunable)

    record_events = via("bus_events", SQLBusEvents.record_events)
    prune_bus_events = via("bus_events", SQLBusEvents.prune_bus_events)
