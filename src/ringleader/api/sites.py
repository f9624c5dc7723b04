"""The control API's listening sockets ("sites", after aiohttp's runner/site split), each
started by ``ApiServer`` (``api.runner``) with the connection handler it serves:

- a unix socket: mode 0600 (0666 when other users are allowed, the peer check deciding),
  never in a world-writable directory without the sticky bit, peers identified by
  SO_PEERCRED (and SO_PEERGROUPS); a stale socket left by a dead controller is replaced, a
  live one never (``api.listen``, which the controller calls before it spawns anything);
- a TCP socket, always TLS (a client certificate gives the peer's name). It accepts plain
  TCP and hands the server the TLS context: the server counts the connection against its
  peer's budget *before* spending a TLS handshake on it;
- the dashboard's loopback socket (``ringleader dashboard``), opened on demand: 127.0.0.1,
  a free port, plain HTTP (browsers hold loopback for a secure context), for browsers
  only: the server checks every request on it as a browser's (``api.browser_gate``).
"""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import struct
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from ringleader.api.http import Peer
from ringleader.api.listen import ListenerError, bind_unix, prepare_unix_path
from ringleader.config import runnable
from ringleader.config.model import TcpConfig, parse_listen
from ringleader.errors import ConfigError

if TYPE_CHECKING:
    import ssl

__all__ = ["Accepted", "ListenerError", "Serve", "Site", "open_loopback_site", "open_tcp_site",
           "open_unix_site", "tls_context"]

_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
_MAX_OPTLEN = 1024  # the most CPython's getsockopt accepts: 256 groups


def _peergroups_option() -> int | None:
    """SO_PEERGROUPS, which Python's socket module lacks: 59 on Linux, but on two machines."""
    if sys.platform != "linux":
        return None
    machine = platform.machine()
    return 0x003D if machine.startswith("sparc") else \
        0x4034 if machine.startswith("parisc") else 59


_SO_PEERGROUPS: Final = _peergroups_option()


@dataclass(frozen=True, slots=True)
class Accepted:
    """A connection a site just accepted, before anything is read from it."""

    site: Literal["unix", "tcp", "loopback"]  # the listener, whose pool it counts against
    key: str  # the peer it counts against: "uid:1000", or the IP address
    peer: Callable[[], Peer]  # unix: known at once; tcp: call after the TLS handshake
    tls: ssl.SSLContext | None = None  # tcp: the handshake the server must make first


# Serves one connection.
Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter, Accepted], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Site:
    """One listening socket of the API."""

    server: asyncio.Server
    addresses: list[str]  # "unix:/path", "https://127.0.0.1:5555"
    inode: tuple[int, int] | None = None  # (dev, ino) of a unix socket file: remove only ours
    port: int | None = None  # a TCP site's (the first socket's) port


async def open_unix_site(path: str, *, shared: bool, serve: Serve,
                         sock: socket.socket | None = None) -> Site:
    """Serve the unix socket at `path`: `sock` if the controller bound it already
    (``api.listen``), else bound now."""
    if sock is None:
        prepare_unix_path(path, shared)
        sock = bind_unix(path, 0o666 if shared else 0o600)
    st = os.stat(path)
    address = "unix:" + path

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            peer = _unix_peer(writer, address)
        except OSError:
            writer.transport.abort()  # gone already
            return
        await serve(reader, writer, Accepted("unix", f"uid:{peer.uid}", lambda: peer))

    server = await asyncio.start_unix_server(accepted, sock=sock)
    return Site(server, [address], (st.st_dev, st.st_ino))


async def open_tcp_site(tcp: TcpConfig, *, serve: Serve) -> Site:
    host, port = parse_listen(tcp.listen)
    ctx = tls_context(tcp)

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        if not peername:
            writer.transport.abort()  # gone already
            return
        await serve(reader, writer, Accepted("tcp", peername[0], lambda: _tcp_peer(writer),
                                             ctx))

    try:
        server = await asyncio.start_server(accepted, host, port, reuse_address=True)
    except OSError as exc:
        raise ListenerError(f"cannot listen on {tcp.listen}: "
                            f"{exc.strerror or exc}") from None
    addresses = []
    for sock in server.sockets:
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        addresses.append(f"https://{shown}:{bound_port}")
    return Site(server, addresses, port=server.sockets[0].getsockname()[1])


async def open_loopback_site(*, serve: Serve) -> Site:
    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        if not peername:
            writer.transport.abort()  # gone already
            return
        peer = _tcp_peer(writer)
        await serve(reader, writer, Accepted("loopback", peername[0], lambda: peer))

    try:
        server = await asyncio.start_server(accepted, "127.0.0.1", 0)
    except OSError as exc:
        raise ListenerError(f"cannot open the dashboard's listener on 127.0.0.1: "
                            f"{exc.strerror or exc}") from None
    port = server.sockets[0].getsockname()[1]
    return Site(server, [f"http://127.0.0.1:{port}"], port=port)


def tls_context(tcp: TcpConfig) -> ssl.SSLContext:
    """``config.runnable.tls_context`` (the one `check` runs too), as a ListenerError."""
    try:
        return runnable.tls_context(tcp)
    except ConfigError as exc:
        raise ListenerError("; ".join(exc.problems)) from None


def _unix_peer(writer: asyncio.StreamWriter, address: str) -> Peer:
    sock: socket.socket = writer.get_extra_info("socket")
    pid, uid, gid = _CRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                 _CRED.size))
    return Peer("unix", uid, gid, pid, address, None, groups=peer_groups(sock))


def peer_groups(sock: socket.socket) -> tuple[int, ...] | None:
    """The supplementary groups the peer had when it connected (SO_PEERGROUPS, Linux 4.13
    and later), or None where the kernel cannot tell or the peer is in more groups than
    getsockopt can return here (256): the caller falls back on the primary gid and the
    members listed in /etc/group."""
    if _SO_PEERGROUPS is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, _SO_PEERGROUPS, _MAX_OPTLEN)
    except OSError:  # ENOPROTOOPT (older kernel), ERANGE (more groups than fit)
        return None
    return struct.unpack(f"{len(raw) // 4}I", raw[:len(raw) // 4 * 4])


def _tcp_peer(writer: asyncio.StreamWriter) -> Peer:
    host, port = writer.get_extra_info("peername")[:2]
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    cert = writer.get_extra_info("peercert")  # only ever a certificate TLS verified
    names = tuple(value for rdn in (cert or {}).get("subject", ()) for key, value in rdn
                  if key == "commonName")
    # /CN=mallory/CN=alice: which one is the client? Neither: the authenticator refuses it.
    return Peer("tcp", None, None, None, address, names[0] if len(names) == 1 else None,
                cert_names=names)
