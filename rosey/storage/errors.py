"""Storage errors (from the original Rosey design's ``lib/storage/errors.py``).

``StorageError`` is the root. ``StorageUnavailable`` means "try again later" (the database is
locked or the server is unreachable); the recorder keeps its buffer and retries with backoff.
``SchemaError`` means the database schema does not match this rosey (not migrated yet, or newer
than the code). ``LegacyImportError`` is a legacy database rosey cannot read.
"""

from __future__ import annotations


class StorageError(Exception):
    """Root of every error the storage layer raises."""


class StorageUnavailable(StorageError):
    """A transient failure: database locked, connection refused or lost. Retrying may help."""


class SchemaError(StorageError):
    """The database schema is not the one this rosey expects (too old, or newer than the code)."""


class LegacyImportError(StorageError):
    """A Rosey-Robot v1 database could not be read."""
