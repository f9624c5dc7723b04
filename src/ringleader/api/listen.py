"""The control socket bound before anything else starts.

The controller binds its unix socket first, and so finds out whether another controller
already answers there, before it spawns a single worker; the HTTP server (h11, the routes,
the commands: about 20 ms of imports) is loaded only afterwards and serves the same socket
(``api.sites``). Stdlib and the config model only.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat

from ringleader.config.model import ControllerConfig
from ringleader.errors import RingleaderError
from ringleader.trusted_files import UntrustedFile, make_private_dirs

__all__ = ["ListenerError", "bind_control_socket", "bind_unix", "prepare_unix_path",
           "unix_socket_mode"]


class ListenerError(RingleaderError):
    """A listener cannot be opened: the message says which and why."""


def unix_socket_mode(config: ControllerConfig, own_uid: int | None = None) -> int:
    """0666 when users other than ours and root may use the socket (allowed_uids or
    allowed_groups; their peer credentials decide), else 0600: the rule of
    ``api.auth.Authenticator.unix_socket_shared``."""
    own = os.getuid() if own_uid is None else own_uid
    shared = bool(config.allowed_groups) or bool(set(config.allowed_uids) - {own, 0})
    return 0o666 if shared else 0o600


def bind_control_socket(path: str, config: ControllerConfig) -> socket.socket:
    """The control socket at `path`, bound and listening (connections wait in its backlog
    until the server serves it). ListenerError if another controller runs there."""
    mode = unix_socket_mode(config)
    prepare_unix_path(path, shared=mode != 0o600)
    return bind_unix(path, mode)


def prepare_unix_path(path: str, shared: bool) -> None:
    directory = os.path.dirname(path) or "."
    if not os.path.lexists(directory):
        if shared:  # the allowed users need a way in: the operator decides its mode
            raise ListenerError(f"cannot create the control socket in {directory}: no such "
                                "folder (make it, with the mode the allowed users need)")
        try:
            make_private_dirs(directory)  # 0700, and logged
        except UntrustedFile as exc:
            raise ListenerError(f"cannot create the control socket in {directory}: "
                                f"{exc.path}: {exc}") from None
    try:
        mode = os.stat(directory).st_mode
    except OSError as exc:
        raise ListenerError(f"cannot create the control socket in {directory}: "
                            f"{exc.strerror}") from None
    if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
        raise ListenerError(f"refusing to create the control socket in {directory}: the "
                            "directory is world-writable without the sticky bit, so anyone "
                            "could replace the socket")
    _clear_if_stale(path)


def _clear_if_stale(path: str) -> None:
    """Remove a socket file at `path` nobody listens on (left by a controller that died);
    ListenerError if another controller answers there, or it is no socket."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise ListenerError(f"{path} exists and is not a socket")
    try:
        _probe(path)
    except (ConnectionRefusedError, FileNotFoundError):
        # Stale (a socket's name appears only once it listens: see bind_unix). Only the
        # file probed: another controller clearing it too may have put its own there since.
        with contextlib.suppress(FileNotFoundError):
            now = os.lstat(path)
            if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                os.unlink(path)
        return
    except OSError:
        pass  # a timeout: something listens but is too busy to accept
    raise ListenerError(f"another controller is running on {path}")


def _probe(path: str) -> None:
    """Connect to `path` and hang up (through its folder's fd when longer than sun_path)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        if len(os.fsencode(path)) < 108:
            probe.connect(path)
            return
        directory, base = os.path.split(os.path.abspath(path))
        dfd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            probe.connect(f"/proc/self/fd/{dfd}/{base}")
        finally:
            os.close(dfd)
    finally:
        probe.close()


def bind_unix(path: str, mode: int) -> socket.socket:
    """A socket listening at `path` with `mode`, whose name appears only once it listens
    (a client waiting for the file is never refused; never, even for an instant, looser
    than `mode`): bound and made ready under a temporary name in the same folder, then
    linked onto `path`. A link, not a rename: it never replaces a socket another
    controller put at `path` meanwhile."""
    directory, base = os.path.split(os.path.abspath(path))
    try:
        dfd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise ListenerError(f"cannot listen on unix:{path}: {exc.strerror or exc}") from None
    try:
        _clear_stale_temps(directory, dfd, base)
        # os.urandom, not secrets: that imports hashlib, which maps libcrypto
        temp = f".{base}.{os.getpid()}.{os.urandom(4).hex()}{_TEMP_END}"
        sock = _listening(directory, dfd, temp, mode, path)
        try:
            _claim(dfd, temp, base, path)
        except BaseException:
            sock.close()
            raise
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=dfd)
    finally:
        os.close(dfd)
    sock.setblocking(False)
    return sock


_TEMP_END = ".tmp"


def _listening(directory: str, dfd: int, temp: str, mode: int, path: str) -> socket.socket:
    where = os.path.join(directory, temp)
    if len(os.fsencode(where)) >= 108:  # sun_path holds 107 bytes: through the folder's fd
        where = f"/proc/self/fd/{dfd}/{temp}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # never, even for an instant, looser than 0600
    try:
        sock.bind(where)
        os.chmod(temp, mode, dir_fd=dfd)  # just made by bind(), in a folder checked
        sock.listen(128)
    except OSError as exc:
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=dfd)
        raise ListenerError(f"cannot listen on unix:{path}: {exc.strerror or exc}") from None
    finally:
        os.umask(old)
    return sock


def _claim(dfd: int, temp: str, base: str, path: str) -> None:
    """Give the listening socket its name; a stale socket there is cleared (once)."""
    for _ in range(2):
        try:
            os.link(temp, base, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
            return
        except FileExistsError:
            _clear_if_stale(path)  # a controller started meanwhile: ListenerError
        except OSError as exc:
            raise ListenerError(f"cannot listen on unix:{path}: "
                                f"{exc.strerror or exc}") from None
    raise ListenerError(f"cannot listen on unix:{path}: it keeps being created meanwhile")


def _clear_stale_temps(directory: str, dfd: int, base: str) -> None:
    """Remove the temporary names (`.BASE.PID.RANDOM.tmp`) of controllers that died while
    they opened this socket: ours only (a socket, owned by our uid), of a process gone."""
    prefix = f".{base}."
    try:
        names = [n for n in os.listdir(directory)
                 if n.startswith(prefix) and n.endswith(_TEMP_END)]
    except OSError:
        return
    for name in names:
        pid = name[len(prefix):].split(".", 1)[0]
        if not pid.isdigit() or (int(pid) != os.getpid() and _is_alive(int(pid))):
            continue  # another controller's, opening its socket right now
        with contextlib.suppress(OSError):
            st = os.lstat(name, dir_fd=dfd)
            if stat.S_ISSOCK(st.st_mode) and st.st_uid == os.geteuid():
                os.unlink(name, dir_fd=dfd)


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's
    return True
