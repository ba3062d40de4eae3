"""twistd dropin: ``twistd rosey --config FILE``.

Kept tiny and import-light: twistd imports every dropin to list them, so the real work lives in
:mod:`rosey.daemon.tap`, imported only when the ``rosey`` command is chosen.
"""

from twisted.application.service import ServiceMaker

rosey = ServiceMaker(
    "rosey",
    "rosey.daemon.tap",
    "rosey: a chat bot daemon for CyTube channels",
    "rosey",
)
