"""Listening sockets bound by the controller and inherited by workers.

The controller binds each ``[sockets.NAME]`` once and keeps it open for its whole life, so
that workers restart without a single refused connection: while no worker runs, clients
queue in the kernel's backlog. The controller never accepts on them.

Children get the sockets two ways at once (both are passed):

- circus style: the controller's own fd numbers, via ``$(circus.sockets.NAME)`` /
  ``$(ringleader.sockets.NAME)`` in the command line (``SocketSet.fds``);
- systemd socket activation: the same sockets again at fds 3, 4, ... with
  ``LISTEN_FDS``, ``LISTEN_FDNAMES`` and ``LISTEN_PID`` (``activation_env`` +
  ``activation_argv``).

The second is ``socket_activation``'s trampoline."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import socket
import stat
from collections.abc import Mapping, Sequence

from ringleader.config.features import SocketConfig
from ringleader.errors import RingleaderError
from ringleader.features.socket_activation import SD_LISTEN_FDS_START, activation_argv

log = logging.getLogger("ringleader.sockets")



class SocketError(RingleaderError):
    """A socket could not be bound (or used); the message names the socket and address."""


def _describe(cfg: SocketConfig) -> str:
    if cfg.family == "unix":
        return f"unix:{cfg.path}"
    if cfg.family == "inet6":
        return f"[{cfg.host}]:{cfg.port}"
    return f"{cfg.host}:{cfg.port}"


def _address_of(sock: socket.socket, family: str) -> str:
    if family == "unix":
        path = sock.getsockname()
        return f"unix:{path.decode() if isinstance(path, bytes) else path}"
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if family == "inet6" else f"{host}:{port}"


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "is already in use"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "is not an address of this host"
    return f"cannot be bound: {exc.strerror or exc}"


class ListeningSocket:
    """One bound, listening socket. ``address`` is what it really listens on (the port the
    OS picked for port 0)."""

    __slots__ = ("_ident", "_sock", "address", "family", "name", "path")

    def __init__(self, name: str, sock: socket.socket, family: str,
                 path: str | None = None) -> None:
        self.name = name
        self.family = family
        self._sock = sock
        self.path = path
        self.address = _address_of(sock, family)
        # The unix socket file we created: close() removes it only if it is still ours.
        self._ident: tuple[int, int] | None = None
        if path is not None:
            st = os.stat(path)
            self._ident = (st.st_dev, st.st_ino)

    @property
    def fd(self) -> int:
        return self._sock.fileno()

    @property
    def closed(self) -> bool:
        return self._sock.fileno() < 0

    def __repr__(self) -> str:
        return f"<ListeningSocket {self.name} {self.address} fd={self.fd}>"

    @classmethod
    def bind(cls, cfg: SocketConfig, *, min_fd: int = 0) -> ListeningSocket:
        """Bind and listen. The fd is non-inheritable (only the watchers that use it get it,
        through pass_fds) and, with `min_fd`, numbered at least that. Raises SocketError."""
        where = f"socket {cfg.name}: {_describe(cfg)}"
        if cfg.family == "unix":
            sock, path = _bind_unix(cfg, where)
        else:
            sock, path = _bind_inet(cfg, where), None
        try:
            if min_fd and sock.fileno() < min_fd:
                sock = _renumber(sock, min_fd)
            sock.set_inheritable(False)
            return cls(cfg.name, sock, cfg.family, path)
        except OSError as exc:
            sock.close()
            raise SocketError(f"{where}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        if self.closed:
            return
        self._sock.close()
        if self.path is not None and self._ident is not None:
            with contextlib.suppress(OSError):
                st = os.stat(self.path)
                if (st.st_dev, st.st_ino) == self._ident:
                    os.unlink(self.path)


def _renumber(sock: socket.socket, min_fd: int) -> socket.socket:
    # F_DUPFD_CLOEXEC: lowest free fd >= min_fd, atomically close-on-exec.
    new_fd = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, min_fd)
    try:
        new = socket.socket(fileno=new_fd)
    except OSError:
        os.close(new_fd)
        raise
    sock.close()
    return new


def _bind_inet(cfg: SocketConfig, where: str) -> socket.socket:
    family = socket.AF_INET6 if cfg.family == "inet6" else socket.AF_INET
    host: str | None = cfg.host if cfg.host not in ("", "*") else None
    try:
        infos = socket.getaddrinfo(host, cfg.port, family, _kind(cfg), 0, socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise SocketError(f"{where}: cannot resolve {cfg.host!r}: {exc.strerror}") from exc
    sockaddr = infos[0][4]
    sock = socket.socket(family, _kind(cfg))
    try:
        # Always: a restarted controller rebinds at once despite TIME_WAIT connections.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if cfg.so_reuseport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            # inet6 means IPv6 only; an IPv4 listener is a socket of its own.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        if cfg.type == "stream":
            sock.listen(cfg.backlog)
    except OSError as exc:
        sock.close()
        raise SocketError(f"{where} {_reason(exc)}") from exc
    return sock


def _kind(cfg: SocketConfig) -> int:
    return socket.SOCK_DGRAM if cfg.type == "dgram" else socket.SOCK_STREAM


def _bind_unix(cfg: SocketConfig, where: str) -> tuple[socket.socket, str]:
    if not cfg.path:
        raise SocketError(f"socket {cfg.name}: a unix socket needs a path")
    path = os.path.abspath(cfg.path)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise SocketError(f"{where}: directory {directory} does not exist")
    if len(os.fsencode(path)) >= 108:
        raise SocketError(f"{where}: path too long for a unix socket (107 bytes at most)")
    _remove_stale(path, where, _kind(cfg))
    sock = socket.socket(socket.AF_UNIX, _kind(cfg))
    # The mode comes from the umask at bind(), and the owner is set without following a
    # symbolic link: a path-based chmod/chown after bind() could be aimed elsewhere by
    # whoever can write to the folder.
    old_umask = os.umask(0o777 & ~cfg.mode) if cfg.mode is not None else None
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        raise SocketError(f"{where} {_reason(exc)}") from exc
    finally:
        if old_umask is not None:
            os.umask(old_umask)
    try:
        # chown before listen(): until then every connect() is refused.
        if cfg.owner is not None or cfg.group is not None:
            os.chown(path, -1 if cfg.owner is None else cfg.owner,
                     -1 if cfg.group is None else cfg.group, follow_symlinks=False)
        if cfg.type == "stream":
            sock.listen(cfg.backlog)
    except OSError as exc:
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise SocketError(f"{where}: {exc.strerror or exc}") from exc
    return sock, path


def _remove_stale(path: str, where: str, kind: int) -> None:
    """A socket file left by a dead program is replaced; one that something still answers
    on, or a file that is not a socket, is an error."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise SocketError(f"{where}: the path exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, kind)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
    except ConnectionRefusedError:
        pass  # nobody listens: stale
    except FileNotFoundError:
        return  # removed meanwhile
    except OSError as exc:
        # EAGAIN (backlog full), timeouts...: something is alive there; never steal it.
        raise SocketError(f"{where}: in use ({exc.strerror or exc})") from exc
    else:
        raise SocketError(f"{where} is already in use (a program answers on it)")
    finally:
        probe.close()
    log.info("%s: removing stale socket file", where)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class SocketSet:
    """The controller's sockets, by name, in config order."""

    def __init__(self, configs: Sequence[SocketConfig]) -> None:
        self._configs: dict[str, SocketConfig] = {}
        for cfg in configs:
            if cfg.name in self._configs:
                raise SocketError(f"socket {cfg.name}: defined twice")
            self._configs[cfg.name] = cfg
        self._bound: dict[str, ListeningSocket] = {}

    def __len__(self) -> int:
        return len(self._configs)

    def __getitem__(self, name: str) -> ListeningSocket:
        try:
            return self._bound[name]
        except KeyError:
            raise SocketError(f"no bound socket {name!r}") from None

    @property
    def sockets(self) -> list[ListeningSocket]:
        return [self._bound[n] for n in self._configs if n in self._bound]

    def bind_all(self) -> None:
        """Bind every socket not bound yet; all or nothing: on an error the ones bound by
        this call are closed again and the SocketError (naming socket and address) raised.
        """
        # Controller fds at or above 3+N never collide with the LISTEN_FDS targets 3..3+N-1,
        # so a child gets both numberings intact (see activation_argv).
        min_fd = SD_LISTEN_FDS_START + len(self._configs)
        new: list[ListeningSocket] = []
        try:
            for name, cfg in self._configs.items():
                if name not in self._bound:
                    new.append(ListeningSocket.bind(cfg, min_fd=min_fd))
        except BaseException:
            for s in new:
                s.close()
            raise
        for s in new:
            self._bound[s.name] = s
            log.info("socket %s listening on %s (fd %d)", s.name, s.address, s.fd)

    def close_all(self) -> None:
        for s in self._bound.values():
            s.close()
        self._bound.clear()

    def for_watcher(self, use_sockets: bool, names: Sequence[str]) -> list[ListeningSocket]:
        """The sockets a watcher gets: none without use_sockets; all when `names` is empty;
        else those, in that order (the order of LISTEN_FDS)."""
        if not use_sockets:
            return []
        if not names:
            return self.sockets
        return [self[n] for n in names]

    def fds(self) -> dict[str, int]:
        """name -> controller fd, for ``$(circus.sockets.NAME)``."""
        return {s.name: s.fd for s in self.sockets}

    @staticmethod
    def activation_env(
        socks: Sequence[ListeningSocket],
    ) -> tuple[dict[str, str], tuple[int, ...]]:
        """(env additions, pass_fds) for a child given `socks`. LISTEN_PID is set by the
        trampoline (activation_argv), which must wrap the command whenever `socks` is not
        empty: LISTEN_FDS counts fds 3.., which only the trampoline puts there."""
        if not socks:
            return {}, ()
        env = {
            "LISTEN_FDS": str(len(socks)),
            "LISTEN_FDNAMES": ":".join(s.name for s in socks),
        }
        return env, tuple(s.fd for s in socks)

    @staticmethod
    def activation_argv(socks: Sequence[ListeningSocket], argv: Sequence[str],
                        env: Mapping[str, str] | None = None) -> list[str]:
        """`argv` wrapped in the socket-activation trampoline (unchanged when `socks` is
        empty). ``argv[0]`` must be the program's path (or a name in the child's PATH).
        With `env` (the child's environment), variables the shell adds by itself (PWD)
        are removed again when `env` lacks them, so the program's environment is `env` +
        LISTEN_PID (+ SHLVL=0 from bash when `env` has none)."""
        return activation_argv([s.fd for s in socks], argv, env)
