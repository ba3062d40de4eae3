"""Channel creation time and a non-empty-name check; key/value store for plugins.

``channels`` is rebuilt on SQLite (a CHECK constraint cannot be added in place): the migration
runner's foreign-keys-off guard is what keeps every child row through that rebuild.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add ``channels.created_at`` (filled from the oldest row seen) and the name check; create
    ``plugin_kv``."""
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("created_at", sa.Double, nullable=True))
        batch.create_check_constraint(op.f("ck_channels_name_not_empty"), "length(name) > 0")
    op.execute(
        "UPDATE channels SET created_at = "
        "(SELECT min(ts) FROM chat_messages WHERE chat_messages.channel_id = channels.id)"
    )
    op.create_table(
        "plugin_kv",
        sa.Column(
            "channel_id",
            sa.Integer,
            sa.ForeignKey(
                "channels.id", ondelete="CASCADE", name="fk_plugin_kv_channel_id_channels"
            ),
            nullable=False,
        ),
        sa.Column("namespace", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Double),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "namespace", "key", name="pk_plugin_kv"),
    )
    op.create_index("ix_plugin_kv_expires_at", "plugin_kv", ["expires_at"])


def downgrade() -> None:
    """Drop ``plugin_kv``, the name check and ``channels.created_at``."""
    op.drop_index("ix_plugin_kv_expires_at", table_name="plugin_kv")
    op.drop_table("plugin_kv")
    with op.batch_alter_table("channels") as batch:
        batch.drop_constraint(op.f("ck_channels_name_not_empty"), type_="check")
        batch.drop_column("created_at")
