"""The sd_notify(3) receiver: one datagram socket for all children (``NOTIFY_SOCKET``).

Any process may send; who sent is told by the kernel, not by the message: with
SO_PASSCRED every datagram carries SCM_CREDENTIALS, whose pid an unprivileged sender
cannot forge. The owner of the socket maps pids to its processes (a ``MAINPID=`` sent by
a process it knows may hand over to a descendant), and ignores the rest.

The default socket is in the abstract namespace: no file to clean up, and reachable by
children running under another uid (a path in a private 0700 directory would not be).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections.abc import Callable, Container

log = logging.getLogger("ringleader.notify")

MAX_DATAGRAM = 4096
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
# Room for the credentials only: file descriptors a sender attaches (FDSTORE=1) do not
# fit, so the kernel truncates (MSG_CTRUNC) and closes them instead of installing them here.
_ANCBUF = socket.CMSG_SPACE(_UCRED.size)
_BATCH = 256  # datagrams read per wake-up before yielding to the loop
_MSG_CMSG_CLOEXEC = getattr(socket, "MSG_CMSG_CLOEXEC", 0x40000000)

_INHERITED = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")

OnMessage = Callable[[int, dict[str, str]], None]


def parse(data: bytes) -> dict[str, str]:
    """``KEY=VALUE`` lines -> dict (the last of a repeated key wins). Lines that are not
    UTF-8, have no '=' or an empty key are ignored."""
    fields: dict[str, str] = {}
    for raw in data.split(b"\n"):
        key, sep, value = raw.partition(b"=")
        if not sep or not key:
            continue
        try:
            k, v = key.decode(), value.decode()
        except UnicodeDecodeError:
            continue
        if k.strip() != k or not k.isprintable():
            continue
        fields[k] = v
    return fields


class NotifySocket:
    def __init__(self, path: str | None = None) -> None:
        """`path`: a filesystem socket (a stale one there is replaced); None: an abstract
        socket ``\\0ringleader-notify-<pid>-<random>``."""
        if path is None:
            # os.urandom, not secrets: secrets imports hashlib, ~4 MB of libcrypto.
            self._address = f"\0ringleader-notify-{os.getpid()}-{os.urandom(6).hex()}"
            self._path: str | None = None
        else:
            self._address = self._path = os.path.abspath(path)
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_message: OnMessage | None = None

    @property
    def address(self) -> str:
        return self._address

    @property
    def env_value(self) -> str:
        """NOTIFY_SOCKET for children: '@name' for an abstract socket, as systemd does."""
        return "@" + self._address[1:] if self._address.startswith("\0") else self._address

    def start(self, loop: asyncio.AbstractEventLoop, on_message: OnMessage) -> None:
        """Bind and read datagrams from `loop`; `on_message(pid, fields)` for each one with
        at least one field. Raises OSError when the socket cannot be bound."""
        if self._sock is not None:
            raise RuntimeError("NotifySocket already started")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                             | socket.SOCK_NONBLOCK)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            if self._path is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._path)  # datagram sockets: no listener to ask; ours now
            sock.bind(self._address)
            if self._path is not None:
                # Children may run as other users; the pid check is the real guard.
                os.chmod(self._path, 0o666)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._loop = loop
        self._on_message = on_message
        loop.add_reader(sock.fileno(), self._drain)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(sock.fileno())
        sock.close()
        if self._path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._path)

    def _drain(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(_BATCH):
            try:
                data, ancdata, flags, _addr = sock.recvmsg(MAX_DATAGRAM, _ANCBUF,
                                                           _MSG_CMSG_CLOEXEC)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # never let one bad read stop the reader
                log.warning("notify socket: %s", exc)
                return
            try:
                self._handle(data, ancdata, flags)
            except Exception:
                log.exception("notify socket: error handling a message")

    def _handle(self, data: bytes, ancdata: list[tuple[int, int, bytes]], flags: int) -> None:
        pid = 0
        for level, kind, payload in ancdata:
            if level != socket.SOL_SOCKET:
                continue
            if kind == socket.SCM_CREDENTIALS and len(payload) >= _UCRED.size:
                pid = _UCRED.unpack_from(payload)[0]
            elif kind == socket.SCM_RIGHTS:  # defensive: never keep a sender's fds
                n = len(payload) // 4
                for fd in struct.unpack(f"{n}i", payload[: n * 4]):
                    with contextlib.suppress(OSError):
                        os.close(fd)
        if flags & socket.MSG_TRUNC:
            log.warning("notify message from pid %d longer than %d bytes: dropped",
                        pid, MAX_DATAGRAM)
            return
        if pid <= 0:  # no credentials, or a sender in another pid namespace
            log.debug("notify message without a usable sender pid: dropped")
            return
        fields = parse(data)
        if fields and self._on_message is not None:
            self._on_message(pid, fields)


def strip_notify_env(env: dict[str, str]) -> None:
    """Remove NOTIFY_SOCKET/WATCHDOG_* inherited from the controller's own environment (a
    controller run by systemd): a child must never notify the controller's manager."""
    for var in _INHERITED:
        env.pop(var, None)


def child_notify_env(env: dict[str, str], notify: NotifySocket | None,
                     watchdog_sec: float = 0.0) -> None:
    """Set a child's sd_notify variables in `env`: none but ours (`notify` None: none)."""
    strip_notify_env(env)
    if notify is None:
        return
    env["NOTIFY_SOCKET"] = notify.env_value
    if watchdog_sec > 0:
        # No WATCHDOG_PID: the pid is unknown before exec, and sd_watchdog_enabled(3)
        # accepts its absence.
        env["WATCHDOG_USEC"] = str(int(watchdog_sec * 1_000_000))


def owner_of(pid: int, known: Container[int], max_depth: int = 32) -> int | None:
    """`pid` if known, else its nearest known ancestor (e.g. `systemd-notify` run by a
    worker's shell), else None. Reads /proc: a sender that already exited is not found."""
    for _ in range(max_depth):
        if pid in known:
            return pid
        if pid <= 1:
            return None
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                # The command name may hold spaces and ')': the ppid follows the last ')'.
                pid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
    return None
