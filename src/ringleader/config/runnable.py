"""What `run` needs beyond a valid config file, so that `check` checks it too: the
watchers within ``max_processes``, and TLS files (the listener's, etcd's) that open
(``trusted_files``: regular files, never through a symbolic link, root's or ours, not
writable by others) and load, the key matching the certificate. `check` and `run` both
call ``check_runnable``; the TLS listener builds its context with ``tls_context``, the
same code."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from ringleader.config.cluster import EtcdSettings
from ringleader.config.model import Config, TcpConfig, WatcherConfig
from ringleader.errors import ConfigError
from ringleader.trusted_files import UntrustedFile, open_trusted, read_trusted

if TYPE_CHECKING:
    import ssl

__all__ = ["check_runnable", "dashboard_hosts", "process_total", "tls_context"]

_MAX_CERT_BYTES = 1 << 20


def process_total(watchers: Iterable[WatcherConfig]) -> int:
    """How many processes the watchers ask for (a singleton at most one)."""
    return sum(min(w.numprocesses, 1) if w.singleton else w.numprocesses for w in watchers)


def check_runnable(config: Config) -> list[str]:
    """Every reason `run` would refuse `config`, one line each ([] when it can run)."""
    where = config.source or "controller"
    problems: list[str] = []
    total, limit = process_total(config.watchers), config.controller.max_processes
    if total > limit:
        problems.append(f"{where}: [ringleader] max_processes: the watchers ask for {total} "
                        f"processes, more than max_processes = {limit}")
    if config.controller.tcp is not None:
        try:
            tls_context(config.controller.tcp)
            dashboard_hosts(config.controller.tcp)
        except ConfigError as exc:
            problems += [f"{where}: {p}" for p in exc.problems]
    if config.cluster is not None:
        try:
            _etcd_tls_files(config.cluster.etcd)
        except ConfigError as exc:
            problems += [f"{where}: {p}" for p in exc.problems]
    return problems


def _etcd_tls_files(etcd: EtcdSettings) -> None:
    """The [cluster] TLS files open as trusted files and load (the agent loads them again
    with the same checks when it starts: cluster/etcd/tls.py)."""
    if not (etcd.ca_file or etcd.cert_file):
        return
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if etcd.ca_file:
        with _trusted("ca_file", etcd.ca_file, "[cluster]") as ca:
            try:
                ctx.load_verify_locations(cafile=ca)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError([f"[cluster] ca_file {etcd.ca_file}: cannot load it: "
                                   f"{exc}"]) from None
    if etcd.cert_file:
        key_file = etcd.key_file or etcd.cert_file
        with _trusted("cert_file", etcd.cert_file, "[cluster]") as cert, \
                _trusted("key_file", key_file, "[cluster]") as key:
            try:
                ctx.load_cert_chain(cert, key, password=_no_password)
            except (OSError, ValueError, ssl.SSLError) as exc:
                raise ConfigError([f"[cluster] cert_file {etcd.cert_file}, key_file "
                                   f"{key_file}: cannot load them: "
                                   f"{getattr(exc, 'reason', None) or exc}"]) from None


def dashboard_hosts(tcp: TcpConfig) -> list[str]:
    """The Host names browsers may reach the dashboard by on the TLS listener:
    dashboard_hosts, else the DNS and IP names of the certificate (none: no dashboard
    there)."""
    if tcp.dashboard_hosts is not None:
        return list(tcp.dashboard_hosts)
    from ringleader.config.tls_names import CertificateError, certificate_names

    try:
        pem = read_trusted(tcp.tls_cert, limit=_MAX_CERT_BYTES, owner="self_or_root")
        return certificate_names(pem)
    except (UntrustedFile, CertificateError, OSError) as exc:
        raise ConfigError([f"[ringleader.tcp] tls_cert {tcp.tls_cert}: cannot read its "
                           f"names for dashboard_hosts ({exc}): list them in "
                           "dashboard_hosts"]) from None


@contextlib.contextmanager
def _trusted(field: str, path: str, section: str = "[ringleader.tcp]") -> Iterator[str]:
    """A path naming the opened, checked file itself (/proc/self/fd/N): ssl opens paths,
    and what it opens is then exactly what was checked."""
    try:
        fd = open_trusted(path, "r", owner="self_or_root", shared_dir_ok=True)
    except UntrustedFile as exc:
        where = "" if exc.path == path else f"{exc.path}: "
        raise ConfigError([f"{section} {field} {path}: {where}{exc}"]) from None
    try:
        proc = f"/proc/self/fd/{fd}"
        yield proc if os.path.exists(proc) else path
    finally:
        os.close(fd)


def _no_password() -> bytes:
    # Else OpenSSL would prompt on the terminal for an encrypted key, and wait.
    raise ValueError("the key is encrypted: give an unencrypted key file")


def tls_context(tcp: TcpConfig) -> ssl.SSLContext:
    """The TLS listener's context; ConfigError naming the field and file otherwise."""
    import ssl  # only with a TCP listener: ssl costs the controller about 4 MB

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    with _trusted("tls_cert", tcp.tls_cert) as cert, _trusted("tls_key", tcp.tls_key) as key:
        try:
            ctx.load_cert_chain(cert, key, password=_no_password)
        except ssl.SSLError as exc:
            if exc.reason == "KEY_VALUES_MISMATCH":
                raise ConfigError([f"[ringleader.tcp] tls_key {tcp.tls_key}: does not match "
                                   f"the certificate tls_cert {tcp.tls_cert}"]) from None
            raise ConfigError([f"[ringleader.tcp] tls_cert {tcp.tls_cert}, tls_key "
                               f"{tcp.tls_key}: cannot load them: {exc.reason or exc}"]) \
                from None
        except (OSError, ValueError) as exc:
            raise ConfigError([f"[ringleader.tcp] tls_key {tcp.tls_key}: cannot load it: "
                               f"{exc}"]) from None
    if tcp.client_ca:
        with _trusted("client_ca", tcp.client_ca) as ca:
            try:
                ctx.load_verify_locations(cafile=ca)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError([f"[ringleader.tcp] client_ca {tcp.client_ca}: cannot "
                                   f"load it: {exc}"]) from None
        ctx.verify_mode = ssl.CERT_REQUIRED if tcp.client_cert_required else ssl.CERT_OPTIONAL
    return ctx
