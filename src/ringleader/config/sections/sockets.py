"""Shared listening sockets: TOML ``[sockets.NAME]``, circus ``[socket:NAME]``, dicts.

Field names are SocketConfig's; circus's are understood too: ``family = AF_INET`` (or inet,
inet6, unix), ``umask`` (the socket file gets mode 0o777 & ~umask), and the circus options
without an equivalent (``replace``, ``blocking``, ``interface``, ``type``, ``proto``) are
accepted with a warning when they ask for something other than the default.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from ringleader.config.features import SocketConfig
from ringleader.config.report import Dialect, Report, convert
from ringleader.config.values import (
    BadValue,
    nul_in,
    plain_name_problem,
    to_bool,
    to_gid,
    to_int,
    to_mode,
    to_str,
    to_uid,
    to_umask,
)

Normaliser = Callable[[Any], Any]

_FAMILIES = {"af_inet": "inet", "af_inet6": "inet6", "af_unix": "unix",
             "inet": "inet", "inet6": "inet6", "unix": "unix"}
CIRCUS_DEFAULT_PORT = 8080  # circus CircusSocket.load_from_config


def _family(v: Any) -> str:
    family = _FAMILIES.get(to_str(v).strip().lower())
    if family is None:
        raise BadValue("inet, inet6 or unix (or circus's AF_INET, AF_INET6, AF_UNIX)")
    return family


def _port(v: Any) -> int:
    return to_int(v, minimum=0, maximum=65535,
                  too_big="a port number between 0 and 65535 (0: any free port)")


def _type(v: Any) -> str:
    kind = to_str(v).strip().lower().removeprefix("sock_")
    if kind not in ("stream", "dgram"):
        raise BadValue("stream or dgram (circus: SOCK_STREAM or SOCK_DGRAM)")
    return kind


SOCKET_FIELDS: dict[str, Normaliser] = {
    "family": _family, "type": _type, "host": to_str, "port": _port, "path": to_str,
    "backlog": lambda v: to_int(v, minimum=1), "so_reuseport": to_bool, "mode": to_mode,
    "owner": to_uid, "group": to_gid, "umask": to_umask,
}


def _circus_ignored(key: str, value: Any) -> bool:
    """circus options without an equivalent: True when *value* asks for something else than
    what Ringleader does anyway (a blocking, replaced, ... socket)."""
    text = str(value).strip().lower()
    if key in ("replace", "blocking"):
        try:
            return to_bool(value)
        except BadValue:
            return True
    if key == "proto":  # the default of each type (circus's SOCK_DGRAM: UDP)
        return text not in ("", "0", "tcp", "udp")
    return bool(text)  # interface


CIRCUS_IGNORED = ("replace", "blocking", "interface", "proto")


def build_socket(name: str, options: Mapping[str, Any], where: str, report: Report,
                 dialect: Dialect, base_dir: str | None) -> SocketConfig | None:
    """Normalise one socket section; a relative unix path is relative to *base_dir* (the
    config file's directory; None: as given)."""
    before = len(report.problems)
    out: dict[str, Any] = {"name": name}
    ignored: list[str] = []
    nul = nul_in(dict(options))
    if nul is not None:
        report.error(where, nul, "contains a NUL character (expected text without NUL)")
        return None
    bad_name = plain_name_problem(name) if isinstance(name, str) else None
    if bad_name is not None:  # it ends up in LISTEN_FDNAMES and $(circus.sockets.NAME)
        report.error(where, "name", f"expected {bad_name}")
        return None
    for key, value in options.items():
        if key in CIRCUS_IGNORED:
            if _circus_ignored(key, value):
                ignored.append(f"{key} = {value}")
        elif key == "name" and dialect == "dict":
            continue
        elif key not in SOCKET_FIELDS:
            report.unknown(where, key, [*SOCKET_FIELDS, *CIRCUS_IGNORED])
        else:
            try:
                out[key] = SOCKET_FIELDS[key](value)
            except BadValue as exc:
                report.bad(where, key, value, exc)
    if len(report.problems) > before:
        return None
    path = out.get("path")
    family = out.setdefault("family", "unix" if path is not None else "inet")
    umask = out.pop("umask", None)
    if family == "unix":
        if not path:
            report.error(where, "path", "missing (a unix socket needs the path of its "
                         "socket file)")
            return None
        if base_dir is not None:
            out["path"] = os.path.normpath(os.path.join(base_dir, os.path.expanduser(path)))
        if umask is not None:
            if "mode" in out:
                report.error(where, "umask", "given with mode (expected one of them)")
                return None
            out["mode"] = 0o777 & ~umask
    else:
        if path is not None:
            report.error(where, "path", f"only for unix sockets (family is {family}; "
                         "expected no path, or family = unix)")
        for key in ("mode", "owner", "group"):
            if key in out:
                report.error(where, key, f"only for unix sockets (family is {family})")
        if len(report.problems) > before:
            return None
        if dialect == "ini":
            out.setdefault("port", CIRCUS_DEFAULT_PORT)
    if ignored:
        report.warnings.append(f"{where} options not supported, ignored: " + ", ".join(ignored))
    return convert(out, SocketConfig, where, "", report)


def _address(s: SocketConfig) -> tuple[str, str, int]:
    if s.family == "unix":
        return ("unix", os.path.normpath(s.path or ""), 0)
    if s.type == "dgram":  # UDP ports are apart from TCP ones
        return (s.family + "/udp", s.host.strip().lower().strip("[]"), s.port)
    host = s.host.strip().lower().strip("[]")
    if host == "localhost":
        host = "::1" if s.family == "inet6" else "127.0.0.1"
    elif host in ("", "*"):
        host = "::" if s.family == "inet6" else "0.0.0.0"
    return (s.family, host, s.port)


def _overlap(a: tuple[str, str, int], b: tuple[str, str, int]) -> bool:
    if a[0] != b[0] or a[2] != b[2]:
        return False
    if a[0] == "unix":
        return a[1] == b[1]
    if a[2] == 0:
        return False  # each gets a free port of its own
    wildcard = "::" if a[0] == "inet6" else "0.0.0.0"
    return a[1] == b[1] or wildcard in (a[1], b[1])


def check_socket_clashes(sockets: list[tuple[SocketConfig, str]], report: Report) -> None:
    """Two sockets on one address cannot both bind: an error, unless so_reuseport is set.
    (Both must set it: when only one does, binding fails at start, hence a warning.)"""
    for i, (s, where) in enumerate(sockets):
        for other, other_where in sockets[:i]:
            a, b = _address(s), _address(other)
            if not _overlap(a, b):
                continue
            shown = a[1] if a[0] == "unix" else (f"[{a[1]}]:{a[2]}" if a[0] == "inet6"
                                                 else f"{a[1]}:{a[2]}")
            field = "path" if a[0] == "unix" else "port"
            if s.so_reuseport and other.so_reuseport:
                continue
            file, _, section = other_where.rpartition(": ")
            same_file = file == where.rpartition(": ")[0]
            message = f"same address as {section if same_file else other_where} ({shown})"
            if s.so_reuseport or other.so_reuseport:
                report.warnings.append(f"{where} {field}: {message}: binding fails unless "
                                       "both set so_reuseport")
            else:
                report.error(where, field, f"{message} (expected another address, or "
                             "so_reuseport = true on both)")
            break
