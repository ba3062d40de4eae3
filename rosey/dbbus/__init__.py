"""The database as its own service, fed by the bus's JetStream stream (docs/dbservice.md).

:mod:`~rosey.dbbus.decode` reads a published event back; :mod:`~rosey.dbbus.writer` turns a
batch of them into each channel's write operations with the recorder's own tracker;
:mod:`~rosey.dbbus.consumer` pulls batches from the stream and acknowledges them once written;
:mod:`~rosey.dbbus.service` is the Twisted service around it.
"""
