"""Alembic environment for rosey.

Run in-process by :mod:`rosey.storage.schema` (which passes a ready connection in
``config.attributes["connection"]``), or by the plain ``alembic`` command from the repository
root, which takes the URL from ``-x url=…``, else ``$ROSEY_DATABASE_URL``, else
``sqlalchemy.url`` in alembic.ini, else ``sqlite:///rosey.sqlite``.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from rosey.storage.engine import DEFAULT_URL, ENV_URL, make_oneshot_engine
from rosey.storage.schema import check_known, migration_transaction
from rosey.storage.schema_lock import migration_lock
from rosey.storage.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    check_known(connection)
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    # The caller's transaction holds the whole run: begin_transaction() joins it.
    with context.begin_transaction():
        context.run_migrations()


def _cli_url() -> str:
    return (
        context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get(ENV_URL)
        or config.get_main_option("sqlalchemy.url")
        or DEFAULT_URL
    )


shared = config.attributes.get("connection")
if shared is not None:
    _run(shared)
else:
    if config.config_file_name:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    if context.is_offline_mode():
        context.configure(
            url=_cli_url(),
            target_metadata=metadata,
            literal_binds=True,
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    else:
        engine = make_oneshot_engine(_cli_url())
        try:
            with migration_lock(_cli_url()), migration_transaction(engine) as conn:
                _run(conn)
        finally:
            engine.dispose()
