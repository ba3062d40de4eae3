"""Shared pytest configuration. pytest-twisted installs the reactor; nothing here imports it."""
