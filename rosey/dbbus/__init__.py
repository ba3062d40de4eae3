"""The database as its own service over the bus (docs/dbservice.md, docs/bus.md).

The write side, fed by the bus's JetStream stream: :mod:`~rosey.dbbus.decode` reads a published
event back; :mod:`~rosey.dbbus.writer` turns a batch of them into each channel's write
operations with the recorder's own tracker; :mod:`~rosey.dbbus.consumer` pulls batches from the
stream and acknowledges them once written; :mod:`~rosey.dbbus.service` is the Twisted service
around it.

The read side, ``rosey.db.*`` request/reply: :mod:`~rosey.dbbus.methods` derives the subjects
from the storage interfaces, :mod:`~rosey.dbbus.codec` carries arguments and typed rows as JSON,
:mod:`~rosey.dbbus.responder` answers the requests from an ``IStorage`` (in the database
service), and :mod:`~rosey.dbbus.client` is the bot's ``IStorage`` that asks them (``[database]
mode = "service"``).
"""
