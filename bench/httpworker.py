"""An HTTP worker for the reload benchmark: ``python httpworker.py FD``.

Serves ``GET`` (any path) with a 3-byte body, one request per connection (HTTP/1.0), from the
listening socket it inherits as file descriptor FD (what ``$(circus.sockets.web)`` expands
to). Several workers share that one socket, so the kernel's accept queue, not the worker,
holds connections nobody has accepted yet.

SIGTERM stops it gracefully: the request in progress is finished, then it stops accepting
and exits; connections still queued on the shared socket stay there for the other workers
(old or new). Stdlib only, single-threaded.
"""

from __future__ import annotations

import selectors
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler
from types import FrameType

BODY = b"ok\n"
POLL_S = 0.1  # how often the loop checks for SIGTERM when no connection arrives


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Worker:
    def __init__(self, fd: int) -> None:
        self.listener = socket.socket(fileno=fd)
        # Shared with the other workers: accept() must not block when another one won the race.
        self.listener.setblocking(False)
        self.stopping = False

    def on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.listener, selectors.EVENT_READ)
            while not self.stopping:
                if selector.select(POLL_S):
                    self._accept_one()

    def _accept_one(self) -> None:
        try:
            conn, address = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return  # another worker took it
        with conn:
            conn.settimeout(10)
            try:
                Handler(conn, address, None)
            except OSError:
                pass  # the client went away; nothing to finish


def main(argv: list[str]) -> int:
    worker = Worker(int(argv[0]))
    signal.signal(signal.SIGTERM, worker.on_sigterm)
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
