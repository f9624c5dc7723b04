"""The HTTP/1.1 framing of the console's client (``api.client``): connecting to a unix
socket, reading a response head and its body (Content-Length, chunked, or up to EOF) off a
plain socket. The stdlib's ``_socket`` only: ``http.client`` and ``socket.py`` cost the
console's start-up more than this whole module.
"""

from __future__ import annotations

import _socket  # the C module: socket.py's enum conversions and selectors cost ~2 ms
import os

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of the console's start-up
if TYPE_CHECKING:
    from collections.abc import Iterator

MAX_LINE = 65_536  # a status or header line longer than this is not HTTP we speak
MAX_HEADERS = 100
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def quote(text: str) -> str:
    """Percent-encode everything but RFC 3986 unreserved characters (no urllib: import cost)."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode())


def connect_unix(path: str, timeout: float) -> _socket.socket:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        if len(os.fsencode(path)) < 108:
            sock.connect(path)
        else:
            # sun_path holds 107 bytes: reach a deeper socket through its directory's fd
            directory, base = os.path.split(os.path.abspath(path))
            dfd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
            try:
                sock.connect(f"/proc/self/fd/{dfd}/{base}")
            finally:
                os.close(dfd)
    except BaseException:
        sock.close()
        raise
    return sock


def reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, FileNotFoundError):
        return "no such socket (is it running?)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is it running?)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__


class Closed(Exception):
    """The peer closed the connection before a whole response arrived."""


class Reader:
    """Buffered reads off a socket (socket.makefile would need socket.py)."""

    __slots__ = ("_buf", "_sock")

    def __init__(self, sock: _socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()  # deleting from its front is cheap in CPython

    def _fill(self) -> bool:
        data = self._sock.recv(65_536)
        self._buf += data
        return bool(data)

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def readline(self, limit: int) -> bytes:
        """Up to and including b"\n", at most `limit` bytes; short at EOF."""
        start = 0
        while True:
            end = self._buf.find(b"\n", start, limit)
            if end >= 0:
                return self._take(end + 1)
            start = len(self._buf)
            if start >= limit or not self._fill():
                return self._take(limit)

    def read(self, n: int) -> bytes:
        """Exactly `n` bytes, fewer only at EOF."""
        while len(self._buf) < n and self._fill():
            pass
        return self._take(n)

    def read1(self, n: int) -> bytes:
        """What is buffered or arrives next, at most `n` bytes; b"" at EOF."""
        if not self._buf:
            self._fill()
        return self._take(n)


class Response:
    __slots__ = ("headers", "reader", "status")

    def __init__(self, status: int, headers: dict[str, str], reader: Reader) -> None:
        self.status = status
        self.headers = headers  # lower-cased names; a repeated header keeps the last value
        self.reader = reader

    @property
    def is_chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def keeps_alive(self) -> bool:
        if "close" in self.headers.get("connection", "").lower():
            return False
        return self.status in (204, 304) or self.is_chunked or "content-length" in self.headers

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives: chunked, Content-Length, or up to EOF."""
        rfile = self.reader
        if self.status in (204, 304):
            return
        if self.is_chunked:
            while True:
                size_line = rfile.readline(MAX_LINE)
                if not size_line.endswith(b"\n"):
                    raise Closed()
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise Closed() from None
                if size == 0:
                    while rfile.readline(MAX_LINE).strip():  # trailers, up to a blank line
                        pass
                    return
                data = rfile.read(size)
                if len(data) < size:
                    raise Closed()
                rfile.readline(MAX_LINE)  # the CRLF after each chunk
                yield data
        elif "content-length" in self.headers:
            left = int(self.headers["content-length"])
            while left > 0:
                data = rfile.read1(min(left, 65_536))
                if not data:
                    raise Closed()
                left -= len(data)
                yield data
        else:
            while data := rfile.read1(65_536):
                yield data

    def read(self) -> bytes:
        return b"".join(self.chunks())


def read_head(rfile: Reader) -> Response:
    while True:
        line = rfile.readline(MAX_LINE)
        if not line.endswith(b"\n"):
            raise Closed()
        parts = line.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise Closed()
        status = int(parts[1])
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            hline = rfile.readline(MAX_LINE)
            if not hline.endswith(b"\n"):
                raise Closed()
            if hline in (b"\r\n", b"\n"):
                break
            key, _, value = hline.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        if 100 <= status < 200:
            continue  # 100 Continue and friends: the real answer follows
        return Response(status, headers, rfile)
