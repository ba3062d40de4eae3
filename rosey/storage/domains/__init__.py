"""The SQL storage's components, one module per domain of :mod:`rosey.storage.interface`.

As in Buildbot's db connector, each component is a small object holding the shared
:class:`~rosey.storage.domains.base.SQLDatabase` (the pool, the clock, the channel ids, the
batch write) and the queries of its domain; :class:`rosey.storage.sql.SQLStorage` composes them.
Every transaction is named ``<domain>.<method>`` (``chat.get_recent_messages``, …).
"""
