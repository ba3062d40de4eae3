"""Storage: every event kept, in SQLite by default and PostgreSQL at scale.

- :mod:`.interface`: :class:`IStorage`, what the bot may ask of storage (all Deferreds).
- :mod:`.rows` / :mod:`.ops`: the plain rows it returns and the write operations it applies.
- :mod:`.sql`: the SQLAlchemy Core implementation (:mod:`.writes` with its hot path
  :mod:`.bulk`, both following the session rules of :mod:`.sessions`; :mod:`.reads`, the
  schema in :mod:`.tables`) on a thread pool (:mod:`.pool`, :mod:`.engine`), with
  :mod:`.waiting` (who has ``!tell`` messages waiting, in memory);
  :mod:`.noop`: one that stores nothing.
- :mod:`.retention`: old history deleted by age in bounded batches (``IStorage.prune``).
- :mod:`.recorder`: the bot's events (turned into operations by :mod:`.tracker`, which reads
  the channel through :class:`rosey.interfaces.IChannelState`) written in batches;
  :mod:`.service`: the service that owns the storage.
- :mod:`.migrate`: Alembic migrations, blocking, before the reactor starts; :mod:`.cli`:
  ``rosey db …``; :mod:`.legacy`: import from the Rosey-Robot v1 database.
"""

from rosey.storage.errors import LegacyImportError, SchemaError, StorageError, StorageUnavailable
from rosey.storage.interface import IStorage

__all__ = ["IStorage", "LegacyImportError", "SchemaError", "StorageError", "StorageUnavailable"]
