"""The event bus: every normalized event of every channel, published on NATS (docs/bus.md).

An adapter beside :mod:`rosey.wire` and :mod:`rosey.storage`: the daemon wires it to the
connections; the bot never imports it, and only :mod:`rosey.bus.nats_bus` imports ``nats``.
"""
