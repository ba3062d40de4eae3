"""Rosey's Alembic migrations (installed as the ``rosey.migrations`` package)."""
