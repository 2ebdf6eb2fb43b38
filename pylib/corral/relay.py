"""A group's Service on this machine, where no kube-proxy runs.

A TCP relay from one loopback address to the engine behind it, opened only once that engine is
up (a Service has endpoints only while a pod is ready).
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes one way until the source closes, then half-close the sink."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class Relay:
    """Connections to listen go to target, both ways, until either side closes."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        relay_target = target

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                client: socket.socket = self.request
                try:
                    upstream = socket.create_connection(relay_target, timeout=5)
                except OSError:
                    return
                upstream.settimeout(None)
                with upstream:
                    back = threading.Thread(target=_pump, args=(client, upstream), daemon=True)
                    back.start()
                    _pump(upstream, client)
                    back.join()

        self.server = _Server(listen, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop listening."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
