"""What the transport (``api.http``) and the applications it serves hand each other: the
peer and its identity, a parsed request, an answer (a response or a stream of Server-Sent
Events), the credentials errors and the connection limits. Plain data, no I/O: the
applications are tested in-process without a socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from ringleader.dashboard.session import Session

__all__ = ["App", "AuthError", "BrowserGate", "EventStream", "FramedStream", "Identifier",
           "Identity", "Limits", "Peer", "Request", "Response", "Stream"]


@dataclass(frozen=True, slots=True)
class Peer:
    """Who is on the other end of a connection."""

    transport: Literal["unix", "tcp"]
    uid: int | None  # SO_PEERCRED, unix only
    gid: int | None
    pid: int | None
    address: str  # "unix:/path" or "127.0.0.1:54321"
    cert_subject: str | None  # CN of a verified client certificate (None unless exactly one)
    cert_names: tuple[str, ...] = ()  # every CN of that certificate's subject
    groups: tuple[int, ...] | None = None  # supplementary gids (SO_PEERGROUPS); None: unknown


@dataclass(frozen=True, slots=True)
class Identity:
    name: str  # "uid:1000(alice)", "token:ci", "cert:alice": what the audit log records
    role: str  # "read" | "operate" | "admin"; "none" for a browser not signed in


# A browser request without a session: only the pages, the assets and the session
# routes answer it (`api.browser`); the control app refuses it like any unknown role.
ANONYMOUS = Identity("anonymous", "none")


@dataclass(slots=True)
class Request:
    method: str
    path: str  # percent-decoded
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    peer: Peer
    identity: Identity
    browser: bool = False  # checked as a browser's (api.browser), not as a console's
    session: Session | None = None  # the dashboard session its cookie named


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


class EventStream:
    """A handler's answer for Server-Sent Events: (event name, JSON data) pairs. The transport
    closes the iterator (``aclose``) when the client goes away or the server stops."""

    __slots__ = ("events", "headers", "heartbeat")

    def __init__(self, events: AsyncIterator[tuple[str, bytes]], *,
                 heartbeat: float = 15.0) -> None:
        self.events = events
        self.heartbeat = heartbeat
        self.headers: list[tuple[str, str]] = []  # added to (or replacing) the defaults


class FramedStream:
    """Server-Sent Events the handler frames itself (with ``id:`` and ``retry:`` lines, as
    the dashboard's stream needs): each item is written as it is."""

    __slots__ = ("frames", "headers", "heartbeat")

    def __init__(self, frames: AsyncIterator[bytes], *, heartbeat: float = 15.0) -> None:
        self.frames = frames
        self.heartbeat = heartbeat
        self.headers: list[tuple[str, str]] = []


Stream = EventStream | FramedStream


class App(Protocol):
    async def handle(self, request: Request) -> Response | Stream: ...

    def error(self, status: int, code: str, detail: str) -> Response: ...


class AuthError(Exception):
    """Credentials refused. *code*: unauthorized (401), forbidden (403) or too_many_requests
    (429, with *retry_after* seconds); a browser check may give another *status* (400, 405)."""

    def __init__(self, code: str, detail: str, retry_after: int | None = None, *,
                 status: int | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.retry_after = retry_after
        self.status = status


class Identifier(Protocol):
    def identify(self, peer: Peer, authorization: str | None) -> Identity: ...


class BrowserGate(Protocol):
    """The checks of browser requests on a listener that serves the dashboard
    (``api.browser``)."""

    def is_browser(self, peer: Peer, path: str, headers: Mapping[str, str]) -> bool: ...

    def admit(self, method: str, path: str,
              headers: Mapping[str, str]) -> tuple[Identity, Session | None]:
        """The identity (ANONYMOUS without a session) or AuthError."""
        ...


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = 1 << 20
    max_body_chunks: int = 1024  # chunked bodies: each chunk costs a parse, whatever its size
    max_header_bytes: int = 16 * 1024
    max_connections: int = 256  # per listener (api.admission)
    owner_reserve: int = 16  # more on the unix socket, for the controller's user and root
    max_unauthenticated_per_peer: int = 16  # per IP (TCP) or uid (unix)
    handshake_timeout: float = 3.0  # TLS
    auth_timeout: float = 5.0  # from accept (or the handshake) to a first, authenticated head
    read_timeout: float = 10.0  # a request in progress must be complete within this
    idle_timeout: float = 60.0  # a keep-alive connection with no request in progress
    write_timeout: float = 10.0  # a client not reading for this long is disconnected
    shutdown_grace: float = 5.0  # stop() waits this long for requests in progress
