"""A light, synchronous client of the control API, for the console.

A minimal HTTP/1.1 client over a plain `socket` (its framing: ``api.client_http``):
`http.client` costs ~27 ms of import and `ssl` ~15 ms, so a console command talking to the
local unix socket pays for neither (`ssl` is imported only for https endpoints). JSON with
the stdlib (answers decoded by its C scanner alone: ``json_loads``); no msgspec.

    with Client("unix:/run/ringleader.sock") as client:
        client.call("incr", name="web", body={"count": 2})
        for event, data in client.stream("events", query={"topic": ["process"]}):
            ...
"""

from __future__ import annotations

import _socket  # the C module: socket.py's enum conversions and selectors cost ~2 ms
import os
import sys

from ringleader.api.client_http import (
    Closed,
    Reader,
    Response,
    connect_unix,
    quote,
    read_head,
    reason,
)
from ringleader.api.routes import ROUTES_BY_OP, Route

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of the console's start-up
if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterator
    from typing import Any

DEFAULT_ENDPOINT = "unix:ringleader.sock"
DEFAULT_SOCKET_NAME = "ringleader.sock"


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
        self._rfile: Reader | None = None
        self._streams: set[_socket.socket] = set()  # the open streams' connections

    # -- public -------------------------------------------------------------------------

    def call(self, op: str, *, name: str | None = None, body: dict[str, Any] | None = None,
             query: dict[str, str | list[str]] | None = None) -> Any:
        """One request; the decoded JSON answer (text for a non-JSON one, e.g. /metrics)."""
        route = ROUTES_BY_OP[op]
        target = _target(route, name, query)
        payload = None if body is None else _json_dumps(body)
        resp = self._exchange(route.method, target, payload, stream=False)
        try:
            data = resp.read()
        except (Closed, OSError) as exc:
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
        self._streams.add(sock)
        return _sse_events(resp, sock, self.endpoint, self._streams)

    def cancel_streams(self) -> None:
        """End the streams this client opened, from any thread: their iterators stop (with
        Unreachable, as for a stream cut off) instead of waiting for the next event."""
        for sock in list(self._streams):
            try:
                sock.shutdown(_socket.SHUT_RDWR)
            except OSError:
                pass  # closed meanwhile

    def peer_pid(self) -> int | None:
        """The controller's pid as the kernel tells it (SO_PEERCRED) on a unix socket, in
        our pid namespace; None over https, or when that process is not visible here."""
        if self.scheme != "unix":
            return None
        if self._sock is None:
            self._connect()
        assert self._sock is not None
        try:
            cred = self._sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
        except (OSError, AttributeError):  # AttributeError: no SO_PEERCRED on this OS
            return None
        pid = int.from_bytes(cred[:4], sys.byteorder, signed=True)
        return pid if pid > 0 else None

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
                sock = connect_unix(self.address, self.timeout)
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
            raise Unreachable(self.endpoint, reason(exc)) from exc
        self._sock = sock
        self._rfile = Reader(sock)

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
                return read_head(self._rfile)
            except (Closed, ConnectionError) as exc:
                self.close()
                # a kept-alive connection the server closed while idle: one retry, fresh
                if reused and attempt == 0:
                    continue
                raise Unreachable(self.endpoint, "the connection was closed without an "
                                  "answer") from exc
            except OSError as exc:
                self.close()
                raise Unreachable(self.endpoint, reason(exc)) from exc
        raise AssertionError("unreachable")


def _tls_context(cafile: str | None, certfile: str | None,
                 keyfile: str | None) -> ssl.SSLContext:
    import ssl

    try:
        ctx = ssl.create_default_context(cafile=cafile)
        if certfile:
            ctx.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise EndpointError(f"cannot load the TLS files: {reason(exc)}") from exc
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


def _decode(resp: Response, data: bytes) -> Any:
    ctype = resp.headers.get("content-type", "")
    is_json = "json" in ctype or (not ctype and data[:1] in (b"{", b"["))
    value: Any
    try:
        value = json_loads(data) if is_json and data else data.decode("utf-8", "replace")
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


def _sse_events(resp: Response, sock: _socket.socket, endpoint: str,
                streams: set[_socket.socket]) -> Iterator[tuple[str, Any]]:
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
    except (Closed, OSError) as exc:
        raise Unreachable(endpoint, "the stream was cut off") from exc
    finally:
        streams.discard(sock)
        sock.close()


def _sse_data(text: str) -> Any:
    try:
        return json_loads(text)
    except ValueError:
        return text


def _json_dumps(body: dict[str, Any]) -> bytes:
    import json

    return json.dumps(body).encode()


# json.loads's constants (its parse_constant), for the scanner below
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _ScanContext:
    """What json.JSONDecoder() hands its C scanner: the defaults of json.loads."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


def json_loads(data: bytes | str) -> Any:
    """json.loads(data). Importing json imports re (~4 ms of a ~15 ms `status`), so an
    object or array in UTF-8 is decoded by json's own C scanner (_json.make_scanner, which
    json.loads runs) with json.loads's defaults; anything else, and any error, goes to
    json.loads itself, which answers or raises exactly as it always did."""
    try:
        text = data if isinstance(data, str) else data.decode("utf-8")
        if text[:1] in ("{", "["):
            from _json import make_scanner

            # typeshed types the context as a scanner; the scanner reads the attributes
            scan = make_scanner(_ScanContext)  # type: ignore[arg-type]
            value, end = scan(text, 0)
            if not text[end:].strip(" \t\n\r"):
                return value
    except Exception:
        pass  # json.loads decides, and says why
    import json

    return json.loads(data)
