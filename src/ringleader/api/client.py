"""A light, synchronous client of the control API, for the console.

A minimal HTTP/1.1 client over a plain `socket`: `http.client` costs ~27 ms of import and
`ssl` ~15 ms, so a console command talking to the local unix socket pays for neither
(`ssl` is imported only for https endpoints). JSON with the stdlib; no msgspec.

    with Client("unix:/run/ringleader.sock") as client:
        client.call("incr", name="web", body={"count": 2})
        for event, data in client.stream("events", query={"topic": ["process"]}):
            ...
"""

from __future__ import annotations

import _socket  # the C module: socket.py's enum conversions and selectors cost ~2 ms
import json
import os

from ringleader.api.routes import ROUTES_BY_OP, Route

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of the console's start-up
if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterator
    from typing import Any

DEFAULT_ENDPOINT = "unix:ringleader.sock"
DEFAULT_SOCKET_NAME = "ringleader.sock"
MAX_LINE = 65_536  # a status or header line longer than this is not HTTP we speak
MAX_HEADERS = 100
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class ApiError(Exception):
    """The controller answered with an error (4xx/5xx): `code` is the stable ErrorCode value."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{detail} ({code})" if detail else code)
        self.status = status
        self.code = code
        self.detail = detail


class Unreachable(Exception):
    """No answer from the controller: no socket, refused, timed out, TLS failure, cut off."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(f"cannot reach the controller at {endpoint}: {reason}")
        self.endpoint = endpoint
        self.reason = reason


class EndpointError(ValueError):
    """An endpoint or TLS file the client cannot use: a usage error, not a network one."""


def quote(text: str) -> str:
    """Percent-encode everything but RFC 3986 unreserved characters (no urllib: import cost)."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode())


def parse_endpoint(endpoint: str) -> tuple[str, str, int]:
    """-> ("unix", path, 0) or ("https", host, port)."""
    text = endpoint.strip()
    if text.startswith("unix://"):
        path = text[len("unix://"):]
    elif text.startswith("unix:"):
        path = text[len("unix:"):]
    elif text.startswith("https://"):
        hostport = text[len("https://"):].rstrip("/")
        if "/" in hostport:
            raise EndpointError(f"endpoint {endpoint!r}: expected https://HOST:PORT, no path")
        host, sep, port = hostport.rpartition(":")
        if not sep or not port.isdigit() or not host:
            if hostport and ":" not in hostport.strip("[]"):
                host, port = hostport, "443"
            else:
                raise EndpointError(f"endpoint {endpoint!r}: expected https://HOST:PORT")
        return "https", host.strip("[]"), int(port)
    elif text.startswith(("http://", "tcp://")):
        raise EndpointError(f"endpoint {endpoint!r}: TCP needs TLS (https://HOST:PORT)")
    elif "://" not in text and text:
        path = text  # a bare socket path
    else:
        raise EndpointError(f"endpoint {endpoint!r}: expected unix:PATH or https://HOST:PORT")
    if not path:
        raise EndpointError(f"endpoint {endpoint!r}: empty socket path")
    return "unix", os.path.expanduser(path), 0


def _connect_unix(path: str, timeout: float) -> _socket.socket:
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


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, FileNotFoundError):
        return "no such socket (is it running?)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is it running?)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__


class _Closed(Exception):
    """The peer closed the connection before a whole response arrived."""


class _Reader:
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

    def __init__(self, status: int, headers: dict[str, str], reader: _Reader) -> None:
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
                    raise _Closed()
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise _Closed() from None
                if size == 0:
                    while rfile.readline(MAX_LINE).strip():  # trailers, up to a blank line
                        pass
                    return
                data = rfile.read(size)
                if len(data) < size:
                    raise _Closed()
                rfile.readline(MAX_LINE)  # the CRLF after each chunk
                yield data
        elif "content-length" in self.headers:
            left = int(self.headers["content-length"])
            while left > 0:
                data = rfile.read1(min(left, 65_536))
                if not data:
                    raise _Closed()
                left -= len(data)
                yield data
        else:
            while data := rfile.read1(65_536):
                yield data

    def read(self) -> bytes:
        return b"".join(self.chunks())


class Client:
    """A connection to one controller, kept alive across calls. Not thread-safe."""

    def __init__(self, endpoint: str, *, token: str | None = None, cafile: str | None = None,
                 certfile: str | None = None, keyfile: str | None = None,
                 timeout: float = 30.0) -> None:
        self.endpoint = endpoint
        self.scheme, self.address, self.port = parse_endpoint(endpoint)
        self.token = token
        self.timeout = timeout
        self._tls: ssl.SSLContext | None = None
        if self.scheme == "https":
            self._tls = _tls_context(cafile, certfile, keyfile)
        elif certfile or keyfile:
            raise EndpointError("--certfile/--keyfile need an https:// endpoint")
        self._sock: _socket.socket | None = None
        self._rfile: _Reader | None = None

    # -- public -------------------------------------------------------------------------

    def call(self, op: str, *, name: str | None = None, body: dict[str, Any] | None = None,
             query: dict[str, str | list[str]] | None = None) -> Any:
        """One request; the decoded JSON answer (text for a non-JSON one, e.g. /metrics)."""
        route = ROUTES_BY_OP[op]
        target = _target(route, name, query)
        payload = None if body is None else json.dumps(body).encode()
        resp = self._exchange(route.method, target, payload, stream=False)
        try:
            data = resp.read()
        except (_Closed, OSError) as exc:
            self.close()
            raise Unreachable(self.endpoint, "the connection was cut off mid-answer") from exc
        if not resp.keeps_alive:
            self.close()
        return _decode(resp, data)

    def stream(self, op: str, *, name: str | None = None,
               query: dict[str, str | list[str]] | None = None) -> Iterator[tuple[str, Any]]:
        """(event, data) for each Server-Sent Event until the server ends the stream.

        The connection is this stream's alone: it is closed when the iterator ends or is
        closed. Waits for events without a timeout (the controller may stay quiet)."""
        route = ROUTES_BY_OP[op]
        resp = self._exchange(route.method, _target(route, name, query), None, stream=True)
        if resp.status >= 300:
            data = resp.read()
            self.close()
            _decode(resp, data)  # raises ApiError
        sock, self._sock, self._rfile = self._sock, None, None
        assert sock is not None
        sock.settimeout(None)
        return _sse_events(resp, sock, self.endpoint)

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._rfile = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the wire -----------------------------------------------------------------------

    def _connect(self) -> None:
        try:
            if self.scheme == "unix":
                sock = _connect_unix(self.address, self.timeout)
            else:
                import socket

                raw = socket.create_connection((self.address, self.port), timeout=self.timeout)
                assert self._tls is not None
                try:
                    sock = self._tls.wrap_socket(raw, server_hostname=self.address)
                except BaseException:
                    raw.close()
                    raise
        except OSError as exc:  # ssl.SSLError is an OSError too
            raise Unreachable(self.endpoint, _reason(exc)) from exc
        self._sock = sock
        self._rfile = _Reader(sock)

    def _request_bytes(self, method: str, target: str, payload: bytes | None,
                       stream: bool) -> bytes:
        host = "localhost" if self.scheme == "unix" else f"{self.address}:{self.port}"
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}",
                 "Accept: text/event-stream" if stream else "Accept: application/json",
                 "User-Agent: ringleader-cli"]
        if self.token:
            lines.append(f"Authorization: Bearer {self.token}")
        if payload is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        elif method in ("POST", "PUT", "PATCH", "DELETE"):
            lines.append("Content-Length: 0")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head + payload if payload else head

    def _exchange(self, method: str, target: str, payload: bytes | None,
                  stream: bool) -> Response:
        request = self._request_bytes(method, target, payload, stream)
        for attempt in (0, 1):
            reused = self._sock is not None
            if not reused:
                self._connect()
            assert self._sock is not None and self._rfile is not None
            try:
                self._sock.sendall(request)
                return _read_head(self._rfile)
            except (_Closed, ConnectionError) as exc:
                self.close()
                # a kept-alive connection the server closed while idle: one retry, fresh
                if reused and attempt == 0:
                    continue
                raise Unreachable(self.endpoint, "the connection was closed without an "
                                  "answer") from exc
            except OSError as exc:
                self.close()
                raise Unreachable(self.endpoint, _reason(exc)) from exc
        raise AssertionError("unreachable")


def _tls_context(cafile: str | None, certfile: str | None,
                 keyfile: str | None) -> ssl.SSLContext:
    import ssl

    try:
        ctx = ssl.create_default_context(cafile=cafile)
        if certfile:
            ctx.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise EndpointError(f"cannot load the TLS files: {_reason(exc)}") from exc
    return ctx


def _target(route: Route, name: str | None, query: dict[str, str | list[str]] | None) -> str:
    path = route.path
    if "{name}" in path:
        if not name:
            raise ValueError(f"operation {route.op!r} needs a name")
        path = path.replace("{name}", quote(name))
    if query:
        pairs = [(k, v) for k, vs in query.items()
                 for v in ([vs] if isinstance(vs, str) else vs)]
        if pairs:
            path += "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs)
    return path


def _read_head(rfile: _Reader) -> Response:
    while True:
        line = rfile.readline(MAX_LINE)
        if not line.endswith(b"\n"):
            raise _Closed()
        parts = line.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise _Closed()
        status = int(parts[1])
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            hline = rfile.readline(MAX_LINE)
            if not hline.endswith(b"\n"):
                raise _Closed()
            if hline in (b"\r\n", b"\n"):
                break
            key, _, value = hline.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        if 100 <= status < 200:
            continue  # 100 Continue and friends: the real answer follows
        return Response(status, headers, rfile)


def _decode(resp: Response, data: bytes) -> Any:
    ctype = resp.headers.get("content-type", "")
    is_json = "json" in ctype or (not ctype and data[:1] in (b"{", b"["))
    value: Any
    try:
        value = json.loads(data) if is_json and data else data.decode("utf-8", "replace")
    except ValueError:
        value = None
        is_json = False
    if resp.status >= 400:
        if is_json and isinstance(value, dict) and "error" in value:
            raise ApiError(resp.status, str(value["error"]), str(value.get("detail", "")))
        text = data.decode("utf-8", "replace").strip()[:200]
        raise ApiError(resp.status, f"http_{resp.status}", text)
    if value is None and data:
        raise ApiError(resp.status, "bad_response", "the controller's answer is not valid JSON")
    return value


def _sse_events(resp: Response, sock: _socket.socket, endpoint: str) -> Iterator[tuple[str, Any]]:
    event = ""
    data: list[str] = []
    buf = b""
    try:
        for chunk in resp.chunks():
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace").rstrip("\r")
                if not line:  # a blank line dispatches the event
                    if data:
                        yield event or "message", _sse_data("\n".join(data))
                    event = ""
                    data = []
                    continue
                if line.startswith(":"):
                    continue  # a comment: keep-alive
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    event = value
                elif field == "data":
                    data.append(value)
    except (_Closed, OSError) as exc:
        raise Unreachable(endpoint, "the stream was cut off") from exc
    finally:
        sock.close()


def _sse_data(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
