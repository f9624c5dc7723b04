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


def bind_unix(path: str, mode: int) -> socket.socket:
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
