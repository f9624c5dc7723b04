"""A tiny scripted HTTP server on a real unix socket, for testing the client and console."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> object:
        return json.loads(self.body)


# A handler gets the request and returns what to send: the raw response bytes (in one or
# more writes), or None to close the connection without answering.
Handler = Callable[[Request], "bytes | list[bytes] | None"]


def response(status: int, body: object = None, *, headers: dict[str, str] | None = None,
             close: bool = False) -> bytes:
    data = b"" if body is None else json.dumps(body).encode()
    head = [f"HTTP/1.1 {status} X", "Content-Type: application/json",
            f"Content-Length: {len(data)}"]
    if close:
        head.append("Connection: close")
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


def chunked(status: int, parts: list[bytes], content_type: str = "application/json",
            ) -> list[bytes]:
    out = [f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
           "Transfer-Encoding: chunked\r\n\r\n".encode()]
    out += [b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts]
    out.append(b"0\r\nX-Trailer: yes\r\n\r\n")
    return out


@dataclass
class FakeServer:
    path: str
    handler: Handler
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    close_after_each: bool = False  # close idle connections, without saying so
    _sock: socket.socket | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _conns: list[socket.socket] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return "unix:" + self.path

    def start(self) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        self._sock.listen(16)
        self._spawn(self._accept)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        assert self._sock is not None
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        rfile = conn.makefile("rb")
        with conn, rfile:
            while True:
                try:
                    line = rfile.readline()
                except OSError:
                    return
                if not line:
                    return
                method, target, _ = line.decode().split(" ", 2)
                headers = {}
                while (h := rfile.readline()) not in (b"\r\n", b""):
                    k, _, v = h.decode().partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = rfile.read(int(headers.get("content-length", 0)))
                req = Request(method, target, headers, body)
                self.requests.append(req)
                out = self.handler(req)
                if out is None:
                    return
                try:
                    for part in [out] if isinstance(out, bytes) else out:
                        conn.sendall(part)
                except OSError:
                    return
                if self.close_after_each:
                    return

    def stop_listening(self) -> None:
        """New connections fail (no socket file); open ones are served still."""
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            except OSError:
                pass
            self._sock.close()
        os.unlink(self.path)

    def stop(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            except OSError:
                pass
            self._sock.close()
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(5)
