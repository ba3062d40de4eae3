"""Initial schema: channels and everything the bot records per channel.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _channel_fk(table: str, primary_key: bool = False) -> sa.Column:
    return sa.Column(
        "channel_id",
        sa.Integer,
        sa.ForeignKey("channels.id", ondelete="CASCADE", name=f"fk_{table}_channel_id_channels"),
        nullable=False,
        primary_key=primary_key,
    )


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_channels"),
        sa.UniqueConstraint("name", name="uq_channels_name"),
    )
    op.create_table(
        "user_stats",
        _channel_fk("user_stats"),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("first_seen", sa.Double),
        sa.Column("last_seen", sa.Double),
        sa.Column("total_chat_lines", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("total_time_connected", sa.Double, nullable=False, server_default=sa.text("0")),
        sa.Column("current_session_start", sa.Double),
        sa.PrimaryKeyConstraint("channel_id", "username", name="pk_user_stats"),
    )
    op.create_table(
        "user_actions",
        sa.Column("id", Id, nullable=False),
        _channel_fk("user_actions"),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("action_type", sa.Text, nullable=False),
        sa.Column("details", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_user_actions"),
    )
    op.create_index("ix_user_actions_channel_ts", "user_actions", ["channel_id", "ts"])
    op.create_index(
        "ix_user_actions_channel_user_ts", "user_actions", ["channel_id", "username", "ts"]
    )
    op.create_table(
        "channel_stats",
        _channel_fk("channel_stats"),
        sa.Column("max_users", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("max_users_ts", sa.Double),
        sa.Column("max_connected", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("max_connected_ts", sa.Double),
        sa.Column("last_updated", sa.Double),
        sa.PrimaryKeyConstraint("channel_id", name="pk_channel_stats"),
    )
    op.create_table(
        "user_count_history",
        sa.Column("id", Id, nullable=False),
        _channel_fk("user_count_history"),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("chat_users", sa.Integer, nullable=False),
        sa.Column("connected_users", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_user_count_history"),
    )
    op.create_index("ix_user_count_history_channel_ts", "user_count_history", ["channel_id", "ts"])
    op.create_table(
        "chat_messages",
        sa.Column("id", Id, nullable=False),
        _channel_fk("chat_messages"),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chat_messages"),
    )
    op.create_index("ix_chat_messages_channel_ts", "chat_messages", ["channel_id", "ts"])
    op.create_index(
        "ix_chat_messages_channel_user_ts", "chat_messages", ["channel_id", "username", "ts"]
    )
    op.create_table(
        "outbound_messages",
        sa.Column("id", Id, nullable=False),
        _channel_fk("outbound_messages"),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("recipient", sa.Text),
        sa.Column("sender", sa.Text),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("sent", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("sent_at", sa.Double),
        sa.Column("retry_count", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_outbound_messages"),
    )
    op.create_index(
        "ix_outbound_messages_channel_sent", "outbound_messages", ["channel_id", "sent"]
    )
    op.create_table(
        "media_history",
        sa.Column("id", Id, nullable=False),
        _channel_fk("media_history"),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("media_type", sa.Text, nullable=False),
        sa.Column("media_id", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("duration", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("queued_by", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_media_history"),
    )
    op.create_index(
        "ix_media_history_channel_started", "media_history", ["channel_id", "started_at"]
    )
    op.create_table(
        "bot_status",
        _channel_fk("bot_status"),
        sa.Column("bot_name", sa.Text),
        sa.Column("bot_rank", sa.Double),
        sa.Column("bot_afk", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("chat_users", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("connected_users", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("playlist_items", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("media_title", sa.Text),
        sa.Column("media_duration", sa.Integer),
        sa.Column("start_time", sa.Double),
        sa.Column("connected", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("last_updated", sa.Double),
        sa.PrimaryKeyConstraint("channel_id", name="pk_bot_status"),
    )


def downgrade() -> None:
    """Drop every table (children first)."""
    for table in (
        "bot_status",
        "media_history",
        "outbound_messages",
        "chat_messages",
        "user_count_history",
        "channel_stats",
        "user_actions",
        "user_stats",
        "channels",
    ):
        op.drop_table(table)
