"""The control API's listeners and their runner, `ApiServer`.

A unix socket (the default: mode 0600, peers identified by SO_PEERCRED) and optionally a TCP
socket, always TLS. `ApiServer` owns the listening sockets and every live `Connection`: it
caps their number and, on stop, closes the listeners, ends event streams, lets requests in
progress finish briefly and removes the socket file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, final

from ringleader.api.auth import Authenticator
from ringleader.api.http import App, Connection, Limits, Peer, refuse_busy
from ringleader.config.model import ControllerConfig, TcpConfig, parse_listen
from ringleader.errors import RingleaderError

if TYPE_CHECKING:
    import ssl

__all__ = ["ApiServer", "Limits", "ListenerError", "build_server", "tls_context"]

_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
_DEFAULT_LIMITS = Limits()


class ListenerError(RingleaderError):
    """A listener cannot be opened: the message says which and why."""


def build_server(app: App, config: ControllerConfig, *,
                 default_unix_path: str | None = None) -> ApiServer:
    """The API server a `ControllerConfig` describes: the unix socket of `endpoint` (else
    *default_unix_path*), the `[ringleader.tcp]` listener, tokens, certificates and limits."""
    endpoint = config.endpoint
    unix_path = endpoint.removeprefix("unix:") if endpoint else default_unix_path
    limits = Limits(max_body_bytes=config.max_body_bytes,
                    max_connections=config.max_connections)
    return ApiServer(app, unix_path=unix_path, authenticator=Authenticator(config),
                     tcp=config.tcp, limits=limits)


def tls_context(tcp: TcpConfig) -> ssl.SSLContext:
    import ssl  # only with a TCP listener: ssl costs the controller about 4 MB

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        ctx.load_cert_chain(tcp.tls_cert, tcp.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ListenerError(f"cannot load the TLS certificate {tcp.tls_cert} and key "
                            f"{tcp.tls_key}: {exc}") from None
    if tcp.client_ca:
        try:
            ctx.load_verify_locations(cafile=tcp.client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ListenerError(f"cannot load the client CA {tcp.client_ca}: {exc}") from None
        ctx.verify_mode = ssl.CERT_REQUIRED if tcp.client_cert_required else ssl.CERT_OPTIONAL
    return ctx


def _prepare_unix_path(path: str) -> None:
    directory = os.path.dirname(path) or "."
    try:
        mode = os.stat(directory).st_mode
    except OSError as exc:
        raise ListenerError(f"cannot create the control socket in {directory}: "
                            f"{exc.strerror}") from None
    if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
        raise ListenerError(f"refusing to create the control socket in {directory}: the "
                            "directory is world-writable without the sticky bit, so anyone "
                            "could replace the socket")
    try:
        existing = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(existing):
        raise ListenerError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # stale: left by a controller that died
        return
    except OSError:
        pass  # a timeout: something listens but is too busy to accept
    finally:
        probe.close()
    raise ListenerError(f"another controller is running on {path}")


def _bind_unix(path: str, mode: int) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # never, even for an instant, looser than 0600
    try:
        sock.bind(path)
        os.chmod(path, mode)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ListenerError(f"cannot listen on unix:{path}: {exc.strerror or exc}") from None
    finally:
        os.umask(old)
    sock.setblocking(False)
    return sock


def _unix_peer(writer: asyncio.StreamWriter, address: str) -> Peer:
    sock: socket.socket = writer.get_extra_info("socket")
    pid, uid, gid = _CRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                 _CRED.size))
    return Peer("unix", uid, gid, pid, address, None)


def _tcp_peer(writer: asyncio.StreamWriter) -> Peer:
    host, port = writer.get_extra_info("peername")[:2]
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    cert = writer.get_extra_info("peercert")  # only ever a certificate TLS verified
    cn: str | None = None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                cn = value
    return Peer("tcp", None, None, None, address, cn)


@final
class ApiServer:
    """Runs the listeners. `start()` / `stop()` (idempotent) or ``async with``."""

    def __init__(self, app: App, *, unix_path: str | None, authenticator: Authenticator,
                 tcp: TcpConfig | None = None, limits: Limits = _DEFAULT_LIMITS) -> None:
        if unix_path is None and tcp is None:
            raise ValueError("ApiServer needs a unix_path or a tcp listener")
        self._app = app
        self._unix_path = os.path.abspath(unix_path) if unix_path else None
        self._auth = authenticator
        self._tcp = tcp
        self._limits = limits
        self._servers: list[asyncio.Server] = []
        self._addresses: list[str] = []
        self._connections: dict[Connection, asyncio.Task[None]] = {}
        self._refusing: set[asyncio.Task[None]] = set()
        self._socket_inode: tuple[int, int] | None = None
        self._started = self._stopped = False

    @property
    def addresses(self) -> list[str]:
        return list(self._addresses)

    @property
    def connections(self) -> int:
        return len(self._connections)

    async def __aenter__(self) -> ApiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("ApiServer.start() called twice")
        self._started = True
        try:
            if self._unix_path is not None:
                await self._start_unix(self._unix_path)
            if self._tcp is not None:
                await self._start_tcp(self._tcp)
        except BaseException:
            await self.stop()
            raise

    async def _start_unix(self, path: str) -> None:
        _prepare_unix_path(path)
        sock = _bind_unix(path, 0o666 if self._auth.unix_socket_shared else 0o600)
        st = os.stat(path)
        self._socket_inode = (st.st_dev, st.st_ino)
        address = "unix:" + path
        server = await asyncio.start_unix_server(
            lambda r, w: self._serve(r, w, lambda: _unix_peer(w, address)), sock=sock)
        self._servers.append(server)
        self._addresses.append(address)

    async def _start_tcp(self, tcp: TcpConfig) -> None:
        host, port = parse_listen(tcp.listen)
        ctx = tls_context(tcp)
        try:
            server = await asyncio.start_server(
                lambda r, w: self._serve(r, w, lambda: _tcp_peer(w)), host, port, ssl=ctx,
                ssl_handshake_timeout=self._limits.read_timeout, reuse_address=True)
        except OSError as exc:
            raise ListenerError(f"cannot listen on {tcp.listen}: "
                                f"{exc.strerror or exc}") from None
        self._servers.append(server)
        for sock in server.sockets:
            bound_host, bound_port = sock.getsockname()[:2]
            shown = f"[{bound_host}]" if ":" in bound_host else bound_host
            self._addresses.append(f"https://{shown}:{bound_port}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     make_peer: Callable[[], Peer]) -> None:
        task = asyncio.current_task()
        assert task is not None
        limits = self._limits
        if self._stopped or len(self._refusing) >= limits.max_connections:
            writer.transport.abort()  # stopping, or flooded: not even a 503
            return
        if len(self._connections) >= limits.max_connections:
            self._refusing.add(task)
            try:
                await refuse_busy(reader, writer, self._app, limits)
            finally:
                self._refusing.discard(task)
            return
        try:
            peer = make_peer()
        except OSError:
            writer.transport.abort()  # gone already
            return
        conn = Connection(reader, writer, peer, self._app, self._auth, limits)
        self._connections[conn] = task
        try:
            await conn.run()
        finally:
            del self._connections[conn]

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for server in self._servers:
            server.close()
        for conn in list(self._connections):
            conn.shutdown()
        tasks = {*self._connections.values(), *self._refusing}
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self._limits.shutdown_grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=2.0)
        for server in self._servers:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await server.wait_closed()
        self._remove_socket_file()

    def _remove_socket_file(self) -> None:
        if self._unix_path is None or self._socket_inode is None:
            return
        with contextlib.suppress(OSError):
            st = os.lstat(self._unix_path)
            if (st.st_dev, st.st_ino) == self._socket_inode:  # still ours, not a successor's
                os.unlink(self._unix_path)
