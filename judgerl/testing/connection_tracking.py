"""An HTTP server that knows its open client connections, so a test server can drop them like a crash."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ConnectionTrackingServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` that tracks open connections and can shut them all down.

    Args:
        address: ``(host, port)`` to bind.
        handler: The request handler class.
    """

    daemon_threads = True  # hung "timeout" handlers must not block shutdown
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True  # binding the same port again works at once (no wait for TIME_WAIT)

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self.connections: set[socket.socket] = set()  # open client connections, closed by drop_connections
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Remember the connection, then serve it (in its own thread)."""
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection, then close it."""
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that died or hung up mid-connection (a killed run) is not a server error: no traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def drop_connections(self) -> int:
        """Shut every open client connection down (as a dying server's kernel would); returns how many."""
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        return len(conns)
