"""The storage's API over the NATS bus (issue #15): ``rosey.db.*`` request/reply.

:mod:`rosey.dbbus.methods` derives the subjects from the storage interfaces,
:mod:`rosey.dbbus.codec` carries arguments and typed rows as JSON, :mod:`rosey.dbbus.responder`
answers the requests from an ``IStorage`` (in the database service), and
:mod:`rosey.dbbus.client` is the bot's ``IStorage`` that asks them (``[database] mode =
"service"``). docs/bus.md describes the subjects and the messages.
"""
