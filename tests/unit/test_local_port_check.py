"""`mlscale up`'s port check answers what uvicorn would (issue 13: TIME_WAIT said "taken")."""

from __future__ import annotations

import socket

from mlscale.backends.local.backend import _port_taken


def test_a_time_wait_socket_does_not_make_the_port_taken() -> None:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    server.listen()
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: its end of the connection sits in TIME_WAIT
    client.close()
    server.close()
    assert not _port_taken(port)


def test_a_listening_socket_makes_the_port_taken() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert _port_taken(server.getsockname()[1])
