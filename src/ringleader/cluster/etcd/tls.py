"""The TLS context for etcd: CA, client certificate and key, read with the controller's
privileges only after checking what the files are.

``ssl`` is imported here only, and this module only when an https endpoint is configured:
``ssl`` costs the controller about 4 MB. Each file is opened with O_NOFOLLOW|O_NONBLOCK (no
symlink followed, no FIFO that blocks the loop), must be a regular file of sane size owned by
root or by us and not writable by others; a private key must not be readable by others
either. The checked descriptor itself is handed to OpenSSL (``/proc/self/fd/N``), so the file
checked is the file loaded.
"""

from __future__ import annotations

import os
import ssl
import stat

from ringleader.cluster.etcd.errors import EtcdAuthError

MAX_PEM_BYTES = 1 << 20


class TlsFileError(EtcdAuthError):
    """A CA, certificate or key file that cannot be used, with the reason."""


def _open_checked(path: str, what: str, *, private: bool, peer: str = "etcd") -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        reason = "is a symbolic link" if exc.errno == 40 else (exc.strerror or str(exc)).lower()
        raise TlsFileError(f"{peer} {what} {path}: {reason}") from None
    try:
        st = os.fstat(fd)
        problem = None
        if not stat.S_ISREG(st.st_mode):
            problem = "not a regular file"
        elif st.st_size > MAX_PEM_BYTES:
            problem = f"larger than {MAX_PEM_BYTES} bytes"
        elif st.st_uid not in (0, os.geteuid()):
            problem = f"owned by uid {st.st_uid} (expected root or uid {os.geteuid()})"
        elif st.st_mode & 0o022:
            problem = f"mode {stat.S_IMODE(st.st_mode):04o} lets others write it"
        elif private and st.st_mode & 0o004:
            problem = (f"mode {stat.S_IMODE(st.st_mode):04o} lets every user read this "
                       "private key (chmod 600)")
        if problem:
            raise TlsFileError(f"{peer} {what} {path}: {problem}")
    except BaseException:
        os.close(fd)
        raise
    return fd


def client_context(ca_file: str | None, cert_file: str | None,
                   key_file: str | None, *, peer: str = "etcd") -> ssl.SSLContext:
    """A client context verifying etcd's (or a ``peer``'s) certificate (against
    ``ca_file``, else the system's CAs) and presenting a client certificate when
    ``cert_file`` is given."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])  # etcd's port also speaks gRPC over h2
    fds: list[int] = []
    try:
        if ca_file:
            fds.append(_open_checked(ca_file, "CA file", private=False, peer=peer))
            try:
                ctx.load_verify_locations(cafile=f"/proc/self/fd/{fds[-1]}")
            except (OSError, ssl.SSLError) as exc:
                raise TlsFileError(f"{peer} CA file {ca_file}: {exc}") from None
        if cert_file:
            fds.append(_open_checked(cert_file, "client certificate", private=False,
                                     peer=peer))
            cert = f"/proc/self/fd/{fds[-1]}"
            key = None
            if key_file:
                fds.append(_open_checked(key_file, "client key", private=True, peer=peer))
                key = f"/proc/self/fd/{fds[-1]}"
            try:
                ctx.load_cert_chain(cert, key)
            except (OSError, ssl.SSLError) as exc:
                raise TlsFileError(f"{peer} client certificate {cert_file} / key "
                                   f"{key_file or cert_file}: {exc}") from None
    finally:
        for fd in fds:
            os.close(fd)
    return ctx
