"""The schema at the head migration, as SQLAlchemy Core tables.

Migrations in ``migrations/versions`` are the source of truth for what a database contains;
these definitions must match them (a test compares the two). Constraint names follow
:data:`NAMING_CONVENTION` so that SQLite batch migrations can find them.
Every table except ``channels`` and ``bus_events_seen`` hangs off ``channels.id`` with
``ON DELETE CASCADE``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    false,
    text,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: 64-bit ids on PostgreSQL; on SQLite an INTEGER PRIMARY KEY (the rowid, autoincrementing).
Id = BigInteger().with_variant(Integer(), "sqlite")


def _channel_fk(primary_key: bool = False) -> Column[int]:
    return Column(
        "channel_id",
        Integer,
        ForeignKey("channels.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
    )


channels = Table(
    "channels",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("created_at", Double, nullable=True),
    CheckConstraint("length(name) > 0", name="name_not_empty"),
)

user_stats = Table(
    "user_stats",
    metadata,
    _channel_fk(primary_key=True),
    Column("username", Text, primary_key=True),
    Column("first_seen", Double),
    Column("last_seen", Double),
    Column("total_chat_lines", Integer, nullable=False, server_default=text("0")),
    Column("total_time_connected", Double, nullable=False, server_default=text("0")),
    Column("current_session_start", Double),
)

user_actions = Table(
    "user_actions",
    metadata,
    Column("id", Id, primary_key=True),
    _channel_fk(),
    Column("ts", Double, nullable=False),
    Column("username", Text, nullable=False),
    Column("action_type", Text, nullable=False),
    Column("details", Text),
    Index("ix_user_actions_channel_ts", "channel_id", "ts"),
    Index("ix_user_actions_channel_user_ts", "channel_id", "username", "ts"),
)

channel_stats = Table(
    "channel_stats",
    metadata,
    _channel_fk(primary_key=True),
    Column("max_users", Integer, nullable=False, server_default=text("0")),
    Column("max_users_ts", Double),
    Column("max_connected", Integer, nullable=False, server_default=text("0")),
    Column("max_connected_ts", Double),
    Column("last_updated", Double),
)

user_count_history = Table(
    "user_count_history",
    metadata,
    Column("id", Id, primary_key=True),
    _channel_fk(),
    Column("ts", Double, nullable=False),
    Column("chat_users", Integer, nullable=False),
    Column("connected_users", Integer, nullable=False),
    Index("ix_user_count_history_channel_ts", "channel_id", "ts"),
)

chat_messages = Table(
    "chat_messages",
    metadata,
    Column("id", Id, primary_key=True),
    _channel_fk(),
    Column("ts", Double, nullable=False),
    Column("username", Text, nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_chat_messages_channel_ts", "channel_id", "ts"),
    Index("ix_chat_messages_channel_user_ts", "channel_id", "username", "ts"),
)

outbound_messages = Table(
    "outbound_messages",
    metadata,
    Column("id", Id, primary_key=True),
    _channel_fk(),
    Column("created_at", Double, nullable=False),
    Column("recipient", Text),
    Column("sender", Text),
    Column("message", Text, nullable=False),
    Column("sent", Boolean, nullable=False, server_default=false()),
    Column("sent_at", Double),
    Column("retry_count", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    Index("ix_outbound_messages_channel_sent", "channel_id", "sent"),
)

media_history = Table(
    "media_history",
    metadata,
    Column("id", Id, primary_key=True),
    _channel_fk(),
    Column("started_at", Double, nullable=False),
    Column("media_type", Text, nullable=False),
    Column("media_id", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("duration", Integer, nullable=False, server_default=text("0")),
    Column("queued_by", Text),
    Index("ix_media_history_channel_started", "channel_id", "started_at"),
)

bot_status = Table(
    "bot_status",
    metadata,
    _channel_fk(primary_key=True),
    Column("bot_name", Text),
    Column("bot_rank", Double),
    Column("bot_afk", Boolean, nullable=False, server_default=false()),
    Column("chat_users", Integer, nullable=False, server_default=text("0")),
    Column("connected_users", Integer, nullable=False, server_default=text("0")),
    Column("playlist_items", Integer, nullable=False, server_default=text("0")),
    Column("media_title", Text),
    Column("media_duration", Integer),
    Column("start_time", Double),
    Column("connected", Boolean, nullable=False, server_default=false()),
    Column("last_updated", Double),
)

plugin_kv = Table(
    "plugin_kv",
    metadata,
    _channel_fk(primary_key=True),
    Column("namespace", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
    Column("expires_at", Double),
    Column("updated_at", Double, nullable=False),
    Index("ix_plugin_kv_expires_at", "expires_at"),
)

#: The ids of the bus events the database service has written (rosey.dbbus): its writes and
#: these ids commit in one transaction, so a redelivered event is recognised and skipped. Keyed
#: by the event id alone (not a channel's row: no foreign key); pruned by age.
bus_events_seen = Table(
    "bus_events_seen",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("channel", Text, nullable=False),
    Column("received_at", Double, nullable=False),
    Index("ix_bus_events_seen_received_at", "received_at"),
)
