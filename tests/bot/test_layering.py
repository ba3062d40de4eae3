"""The bot never imports socket or SQL code: only the interfaces between the layers."""

from __future__ import annotations

import subprocess
import sys


def test_bot_imports_neither_websocket_nor_sql_code() -> None:
    probe = (
        "import sys, rosey.bot.service\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'alembic', 'autobahn', 'treq', 'psycopg') "
        "or m in ('rosey.wire.connection', 'rosey.wire.protocol', 'rosey.storage.sql'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""
