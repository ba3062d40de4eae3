"""The nats-server fixture itself: it accepts clients, and restarts on the same port."""

from __future__ import annotations

import socket

from tests.bus.natsserver import NatsServer


def info_line(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        return s.recv(4096)


def test_server_accepts_then_restarts_on_the_same_port(nats_server: NatsServer) -> None:
    assert info_line(nats_server.port).startswith(b"INFO ")
    port = nats_server.port
    nats_server.kill()
    try:
        info_line(port)
    except ConnectionRefusedError:
        pass
    else:
        raise AssertionError("the port still answers after kill")
    nats_server.start()
    assert nats_server.port == port
    assert b'"jetstream":true' in info_line(port)
