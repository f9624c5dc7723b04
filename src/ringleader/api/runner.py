"""The control API's runner, `ApiServer`: it opens the sites (``api.sites``: the unix socket
by default, and a TLS TCP socket if configured) and owns every live `Connection`: it admits
each into its listener's pool (``api.admission``: a limit per listener, room kept on the
unix socket for the controller's own user and root, a budget of unauthenticated connections
per peer), makes the TLS handshake under a short deadline, gives a stranger a short
deadline to send an authenticated request head, and, on stop, closes the listeners, ends
event streams, lets requests in progress finish briefly and removes the socket file.

With a `Dashboard`, the TLS listener also serves the web dashboard's login (its browser
requests checked by a ``browser_gate.Gate``, its pages and sessions answered by a
``browser_app.BrowserApp`` around the control app), and `open_dashboard` opens the
loopback listener of ``ringleader dashboard``, once, on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import TYPE_CHECKING, Literal, final

import h11

from ringleader.api.admission import Pool
from ringleader.api.auth import Authenticator
from ringleader.api.browser_gate import Gate
from ringleader.api.http import App, Connection, Limits
from ringleader.api.sites import (
    Accepted,
    ListenerError,
    Site,
    open_loopback_site,
    open_tcp_site,
    open_unix_site,
)
from ringleader.config.model import ControllerConfig, TcpConfig
from ringleader.errors import ConfigError

if TYPE_CHECKING:
    from ringleader.api.dashboard import Dashboard

log = logging.getLogger("ringleader.api")

__all__ = ["ApiServer", "build_server"]

_DEFAULT_LIMITS = Limits()


def build_server(app: App, config: ControllerConfig, *,
                 default_unix_path: str | None = None,
                 dashboard: Dashboard | None = None,
                 unix_sock: socket.socket | None = None) -> ApiServer:
    """The API server a `ControllerConfig` describes: the unix socket of `endpoint` (else
    *default_unix_path*; *unix_sock* if already bound there), the `[ringleader.tcp]`
    listener, tokens, certificates and limits."""
    endpoint = config.endpoint
    unix_path = endpoint.removeprefix("unix:") if endpoint else default_unix_path
    limits = Limits(max_body_bytes=config.max_body_bytes,
                    max_connections=config.max_connections)
    return ApiServer(app, unix_path=unix_path, authenticator=Authenticator(config),
                     tcp=config.tcp, limits=limits, dashboard=dashboard,
                     unix_sock=unix_sock)


@final
class ApiServer:
    """Runs the listeners. `start()` / `stop()` (idempotent) or ``async with``."""

    def __init__(self, app: App, *, unix_path: str | None, authenticator: Authenticator,
                 tcp: TcpConfig | None = None, limits: Limits = _DEFAULT_LIMITS,
                 dashboard: Dashboard | None = None,
                 unix_sock: socket.socket | None = None) -> None:
        if unix_path is None and tcp is None:
            raise ValueError("ApiServer needs a unix_path or a tcp listener")
        self._app = app
        self._unix_path = os.path.abspath(unix_path) if unix_path else None
        self._unix_sock = unix_sock  # bound already at _unix_path (api.listen)
        self._auth = authenticator
        self._owners = authenticator.owner_uids
        self._tcp = tcp
        self._limits = limits
        self._servers: list[asyncio.Server] = []
        self._addresses: list[str] = []
        self._pools = {
            "unix": Pool(limits.max_connections, reserve=limits.owner_reserve,
                         per_peer=limits.max_unauthenticated_per_peer),
            "tcp": Pool(limits.max_connections, per_peer=limits.max_unauthenticated_per_peer),
            "loopback": Pool(limits.max_connections,
                             per_peer=limits.max_unauthenticated_per_peer),
        }
        # the app and the browser gate each listener serves with
        self._sites: dict[str, tuple[App, Gate | None]] = {"unix": (app, None),
                                                           "tcp": (app, None)}
        self._dashboard = dashboard
        self._loopback: asyncio.Task[Gate] | None = None
        if dashboard is not None:
            dashboard.open_loopback = self.open_dashboard
        self._connections: dict[Connection, asyncio.Task[None]] = {}
        self._handshaking: set[asyncio.Task[None]] = set()
        self._refusing: set[asyncio.Task[None]] = set()
        self._socket_inode: tuple[int, int] | None = None
        self._started = self._stopped = False

    @property
    def addresses(self) -> list[str]:
        return list(self._addresses)

    @property
    def connections(self) -> int:
        """Connections serving requests, on every listener."""
        return len(self._connections)

    def pool(self, site: str) -> Pool:
        """The admission pool of a listener ("unix" or "tcp")."""
        return self._pools[site]

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
                sock, self._unix_sock = self._unix_sock, None
                self._add(await open_unix_site(
                    self._unix_path, shared=self._auth.unix_socket_shared, serve=self._serve,
                    sock=sock))
            if self._tcp is not None:
                site = await open_tcp_site(self._tcp, serve=self._serve)
                self._add(site)
                if self._dashboard is not None:
                    self._sites["tcp"] = self._browser_site("tls", site, self._tls_hosts())
        except BaseException:
            await self.stop()
            raise

    def _tls_hosts(self) -> list[str]:
        from ringleader.config.runnable import dashboard_hosts

        assert self._tcp is not None
        try:
            return dashboard_hosts(self._tcp)
        except ConfigError as exc:
            raise ListenerError("; ".join(exc.problems)) from None

    def _browser_site(self, kind: Literal["loopback", "tls"], site: Site,
                      hosts: list[str]) -> tuple[App, Gate]:
        from ringleader.api.browser_app import BrowserApp

        dashboard = self._dashboard
        assert dashboard is not None and site.port is not None
        gate = Gate(kind, site.port, hosts, lambda: dashboard.sessions)
        if kind == "tls":
            dashboard.tls_gate = gate
        return BrowserApp(self._app, dashboard, gate, self._auth), gate

    async def open_dashboard(self) -> Gate:
        """The loopback listener of the dashboard, opened at the first call."""
        if self._stopped or not self._started:
            raise ListenerError("the API server is not running")
        if self._loopback is None:
            self._loopback = asyncio.ensure_future(self._open_loopback())
        try:
            return await asyncio.shield(self._loopback)
        except ListenerError:
            self._loopback = None  # the next request tries again
            raise

    async def _open_loopback(self) -> Gate:
        site = await open_loopback_site(serve=self._serve)
        if self._stopped:  # stop() ran meanwhile: it would not close this one
            site.server.close()
            raise ListenerError("the API server is stopping")
        self._add(site)
        self._sites["loopback"] = self._browser_site("loopback", site, ["127.0.0.1"])
        gate = self._sites["loopback"][1]
        assert gate is not None
        log.info("dashboard listening on %s", site.addresses[0])
        return gate

    def _add(self, site: Site) -> None:
        self._servers.append(site.server)
        self._addresses += site.addresses
        if site.inode is not None:
            self._socket_inode = site.inode

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     accepted: Accepted) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self._stopped:
            writer.transport.abort()
            return
        pool = self._pools[accepted.site]
        peer = accepted.peer() if accepted.tls is None else None  # unix: known at once
        authenticated = peer is not None and self._auth.admits_unix(peer)
        ticket = pool.admit(accepted.key, authenticated=authenticated,
                            owner=peer is not None and peer.uid in self._owners)
        if ticket is None:
            writer.transport.abort()  # this peer holds its whole budget of strangers
            return
        try:
            if ticket.busy:
                await self._refuse(reader, writer, accepted, task)
                return
            if accepted.tls is not None:
                if not await self._handshake(writer, accepted, task):
                    return
                try:
                    peer = accepted.peer()  # with the certificate the handshake verified
                except (OSError, TypeError):  # gone meanwhile: no address any more
                    writer.transport.abort()
                    return
            assert peer is not None
            app, gate = self._sites[accepted.site]
            await self._run(Connection(
                reader, writer, peer, app, self._auth, self._limits,
                head_deadline=None if ticket.authenticated else
                asyncio.get_running_loop().time() + self._limits.auth_timeout,
                on_authenticated=lambda: pool.authenticate(ticket), browser=gate), task)
        finally:
            pool.release(ticket)

    async def _handshake(self, writer: asyncio.StreamWriter, accepted: Accepted,
                         task: asyncio.Task[None]) -> bool:
        """The TLS handshake, under its own short deadline: True once it is done."""
        assert accepted.tls is not None
        self._handshaking.add(task)
        try:
            await writer.start_tls(accepted.tls,
                                   ssl_handshake_timeout=self._limits.handshake_timeout)
        except Exception:  # plain HTTP, a bad certificate, too slow, gone: nothing to say
            writer.transport.abort()
            return False
        finally:
            self._handshaking.discard(task)
        return True

    async def _run(self, conn: Connection, task: asyncio.Task[None]) -> None:
        self._connections[conn] = task
        try:
            await conn.run()
        finally:
            del self._connections[conn]

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      accepted: Accepted, task: asyncio.Task[None]) -> None:
        """The listener is full: a 503, as long as answering refusals is not itself a
        flood (then the connection is just closed)."""
        if len(self._refusing) >= self._limits.max_connections:
            writer.transport.abort()
            return
        self._refusing.add(task)
        try:
            if accepted.tls is None or await self._handshake(writer, accepted, task):
                await _refuse_busy(reader, writer, self._app, self._limits)
        finally:
            self._refusing.discard(task)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for server in self._servers:
            server.close()
        for conn in list(self._connections):
            conn.shutdown()
        for task in self._handshaking:
            task.cancel()  # nothing in progress to finish there
        tasks = {*self._connections.values(), *self._handshaking, *self._refusing}
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
        if self._dashboard is not None:
            self._dashboard.close()
        self._remove_socket_file()

    def _remove_socket_file(self) -> None:
        if self._unix_path is None or self._socket_inode is None:
            return
        with contextlib.suppress(OSError):
            st = os.lstat(self._unix_path)
            if (st.st_dev, st.st_ino) == self._socket_inode:  # still ours, not a successor's
                os.unlink(self._unix_path)


async def _refuse_busy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, app: App,
                      limits: Limits) -> None:
    """Too many connections: answer 503 and close. The request is read first (briefly), since
    closing a socket with unread data makes the kernel reset it and lose the answer."""
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(1.0, limits.read_timeout)):
                await reader.read(limits.max_header_bytes)
        conn = h11.Connection(h11.SERVER)
        response = app.error(503, "unavailable", f"too many connections to this listener "
                                                 f"(at most {limits.max_connections})")
        writer.write(b"".join((
            conn.send(h11.Response(status_code=503, reason=b"Service Unavailable", headers=[
                ("content-type", response.content_type),
                ("content-length", str(len(response.body))), ("connection", "close")])) or b"",
            response.body)))
        async with asyncio.timeout(limits.write_timeout):
            await writer.drain()
    except Exception:
        pass  # best effort: the client is refused either way
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
