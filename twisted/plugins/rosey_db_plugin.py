"""twistd dropin: ``twistd --reactor=asyncio rosey-db --config FILE``, the database service.

Import-light like the ``rosey`` dropin: the work lives in :mod:`rosey.daemon.db_tap`.
"""

from twisted.application.service import ServiceMaker

rosey_db = ServiceMaker(
    "rosey-db",
    "rosey.daemon.db_tap",
    "rosey-db: rosey's database service, fed by the event bus",
    "rosey-db",
)
