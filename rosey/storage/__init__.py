"""Storage: every event kept, in SQLite by default and PostgreSQL at scale.

- :mod:`.interface`: :class:`IStorage`, what the bot may ask of storage (all Deferreds), made
  of one small interface per domain (chat, stats, media, actions, outbound, kv, retention).
- :mod:`.rows` / :mod:`.ops`: the plain rows it returns and the write operations it applies.
- :mod:`.sql`: the SQLAlchemy Core implementation, a composite (:mod:`.composite`) of one
  component per domain (:mod:`.domains`) on a thread pool that names every transaction
  (:mod:`.pool`, :mod:`.engine`); writes go through :mod:`.writes` with its hot path
  :mod:`.bulk`, both following the session rules of :mod:`.sessions`; the schema is
  :mod:`.tables`; :mod:`.waiting` knows who has ``!tell`` messages waiting, in memory;
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
