"""The control API's runner, `ApiServer`: it opens the sites (``api.sites``: the unix socket
by default, and a TLS TCP socket if configured) and owns every live `Connection`: it caps
their number and, on stop, closes the listeners, ends event streams, lets requests in
progress finish briefly and removes the socket file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from typing import final

from ringleader.api.auth import Authenticator
from ringleader.api.http import App, Connection, Limits, Peer, refuse_busy
from ringleader.api.sites import Site, open_tcp_site, open_unix_site
from ringleader.config.model import ControllerConfig, TcpConfig

__all__ = ["ApiServer", "build_server"]

_DEFAULT_LIMITS = Limits()


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
                self._add(await open_unix_site(
                    self._unix_path, shared=self._auth.unix_socket_shared, serve=self._serve))
            if self._tcp is not None:
                self._add(await open_tcp_site(self._tcp, serve=self._serve,
                                              handshake_timeout=self._limits.read_timeout))
        except BaseException:
            await self.stop()
            raise

    def _add(self, site: Site) -> None:
        self._servers.append(site.server)
        self._addresses += site.addresses
        if site.inode is not None:
            self._socket_inode = site.inode

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
