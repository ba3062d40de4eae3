"""The database service's record of the bus events it has written (``bus_events_seen``).

Revision ID: 0004_bus_events_seen
Revises: 0003_channel_case
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004_bus_events_seen"
down_revision: str | None = "0003_channel_case"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``bus_events_seen`` (event id, channel, when it was received)."""
    op.create_table(
        "bus_events_seen",
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("received_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_bus_events_seen"),
    )
    op.create_index("ix_bus_events_seen_received_at", "bus_events_seen", ["received_at"])


def downgrade() -> None:
    """Drop ``bus_events_seen``."""
    op.drop_index("ix_bus_events_seen_received_at", table_name="bus_events_seen")
    op.drop_table("bus_events_seen")
