"""The private unix socket that serves ``api.supervisor_rpc`` to supervisord event
listeners (their ``SUPERVISOR_SERVER_URL``), opened only when a watcher has ``events``.

Who may connect: root, the controller's user and the users the listeners run as (SO_PEERCRED,
checked on each request); the socket is 0600, given to the listeners' user when they all run
as one other user. HTTP is ``api.http``'s (h11, its limits and timeouts) with a 64 KiB body
limit and few connections. A caller is audited as ``listener:NAME`` when its pid is a
listener's, else by its uid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct

from ringleader.api.audit import AuditLog
from ringleader.api.commands import Commands
from ringleader.api.http import Connection
from ringleader.api.listen import bind_unix, prepare_unix_path
from ringleader.api.messages import AuthError, Identity, Limits, Peer
from ringleader.api.supervisor_rpc import SupervisorRpc
from ringleader.engine.arbiter import Arbiter

__all__ = ["ListenerRpcServer", "listener_socket_path"]

log = logging.getLogger("ringleader.supervisor_rpc")

_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
LIMITS = Limits(max_body_bytes=64 * 1024, max_body_chunks=64, max_header_bytes=8 * 1024,
                max_connections=16, auth_timeout=5.0, read_timeout=10.0, idle_timeout=60.0)


def listener_socket_path(control_socket: str) -> str:
    """Next to the control socket, in the folder the operator (or we, 0700) made for it."""
    return f"{control_socket}.listeners"


class _ListenerPeers:
    """The Identifier: root, our user, the listeners' users; named after the listener."""

    def __init__(self, arbiter: Arbiter) -> None:
        self._arbiter = arbiter

    def listener_uids(self) -> set[int]:
        return {w.template.uid if w.template.uid is not None else os.getuid()
                for w in self._arbiter.watchers if w.config.events}

    def identify(self, peer: Peer, authorization: str | None) -> Identity:
        uid = peer.uid
        if uid is None or uid not in {0, os.getuid()} | self.listener_uids():
            raise AuthError("forbidden", f"uid {uid} is not an event listener's user")
        for watcher in self._arbiter.watchers:
            if not watcher.config.events:
                continue
            for proc in watcher.processes.values():
                if peer.pid is not None and proc.pid == peer.pid and proc.is_alive:
                    return Identity(f"listener:{proc.name}", "operate")
        return Identity(f"uid:{uid}", "operate")


class ListenerRpcServer:
    def __init__(self, path: str, arbiter: Arbiter, commands: Commands,
                 audit: AuditLog | None) -> None:
        self.path = path
        self._peers = _ListenerPeers(arbiter)
        self._app = SupervisorRpc(commands, audit)
        self._server: asyncio.AbstractServer | None = None
        self._connections: dict[asyncio.Task[None], Connection] = {}
        self._inode: tuple[int, int] | None = None
        self._sock: socket.socket | None = None  # bound, not yet served
        self._owner: int | None = None  # whom give_to_listeners gave the socket

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    async def start(self) -> None:
        """Bind (ListenerError when it cannot) and serve."""
        self.bind()
        await self.serve()

    def bind(self) -> None:
        """Bind and listen (ListenerError when it cannot): the URL works from now on, its
        clients waiting in the backlog until `serve`."""
        prepare_unix_path(self.path, shared=False)
        self._sock = bind_unix(self.path, 0o600)
        st = os.stat(self.path)
        self._inode = (st.st_dev, st.st_ino)
        self.give_to_listeners()

    async def serve(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return  # stopped meanwhile
        self._server = await asyncio.start_unix_server(self._serve, sock=sock,
                                                       limit=LIMITS.max_header_bytes)
        log.info("supervisor XML-RPC for event listeners on unix:%s", self.path)

    def give_to_listeners(self) -> None:
        """The socket's owner: the listeners' user when they all run as one other user
        (else ours: root and we may always connect)."""
        others = self._peers.listener_uids() - {0, os.getuid()}
        owner = next(iter(others)) if len(others) == 1 else os.getuid()
        if owner == self._owner:
            return  # asked at each listener's spawn: said and done once
        self._owner = owner
        if len(others) > 1:
            log.warning("event listeners run as several users: only root and %d can reach "
                        "unix:%s", os.getuid(), self.path)
        with contextlib.suppress(OSError):
            os.chown(self.path, owner, -1, follow_symlinks=False)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._connections) >= LIMITS.max_connections or task is None:
            writer.close()
            return
        try:
            sock: socket.socket = writer.get_extra_info("socket")
            pid, uid, gid = _CRED.unpack(sock.getsockopt(socket.SOL_SOCKET,
                                                         socket.SO_PEERCRED, _CRED.size))
        except OSError:
            writer.close()
            return
        peer = Peer("unix", uid, gid, pid, f"unix:{self.path}", None)
        loop = asyncio.get_running_loop()
        conn = Connection(reader, writer, peer, self._app, self._peers, LIMITS,
                          head_deadline=loop.time() + LIMITS.auth_timeout)
        self._connections[task] = conn
        try:
            await conn.run()
        finally:
            self._connections.pop(task, None)

    async def stop(self) -> None:
        if self._sock is not None:  # bound, never served
            self._sock.close()
            self._sock = None
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._connections.values()):
            conn.shutdown()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=LIMITS.shutdown_grace)
        for task in list(self._connections):
            task.cancel()
        with contextlib.suppress(OSError):
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == self._inode:  # still ours
                os.unlink(self.path)
