"""Normalisers of the control API options of the [ringleader] section: who may use the unix
socket, the TLS TCP listener, its tokens and client certificates, and the API limits.

Kept apart from ``sections.controller`` (which merges ``API_FIELDS`` into the controller
fields and calls these for the sub-tables) so that each module stays small.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ringleader.config.model import TCP_NEEDS_AUTH, TOKEN_HASH_PATTERN, parse_listen
from ringleader.config.report import Report
from ringleader.config.values import (
    BadValue,
    plain_name_problem,
    to_bool,
    to_float,
    to_gid,
    to_int,
    to_str,
    to_uid,
)

Normaliser = Callable[[Any], Any]

_ROLES = ("read", "operate", "admin")
_HASH = re.compile(TOKEN_HASH_PATTERN)


def _role(v: Any) -> str:
    role = to_str(v).strip().lower()
    if role not in _ROLES:
        raise BadValue("read, operate or admin")
    return role


def _id_list(convert: Normaliser, what: str) -> Normaliser:
    def normalise(v: Any) -> list[int]:
        items = v.replace(",", " ").split() if isinstance(v, str) else v  # INI: "a, b"
        if not isinstance(items, list):
            raise BadValue(f"a list of {what}")
        return [convert(item) for item in items]

    return normalise


def _listen(v: Any) -> str:
    text = to_str(v).strip()
    try:
        parse_listen(text)
    except ValueError:
        raise BadValue('HOST:PORT such as "127.0.0.1:5555" or "[::1]:5555"') from None
    return text


_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*")


def dashboard_host(text: str) -> str:
    """A name as a browser sends it in Host (without the port): lower case, an IPv6
    address in brackets."""
    import ipaddress  # only for a [ringleader.tcp] table: not at every start

    name = text.strip().lower()
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        if not _HOST_NAME.fullmatch(name) or len(name) > 253:
            raise BadValue("host names or IP addresses without a port, such as "
                           '"ctl.example.org" or "127.0.0.1"') from None
        return name
    return f"[{address}]" if address.version == 6 else str(address)


def _host_list(v: Any) -> list[str]:
    if not isinstance(v, list):
        raise BadValue('a list of host names, such as ["ctl.example.org"]')
    return [dashboard_host(to_str(item)) for item in v]


def _token_hash(v: Any) -> str:
    if not isinstance(v, str) or not _HASH.match(v.strip()):
        raise BadValue("sha256:<64 hex digits>, the output of `ringleader token hash`")
    return v.strip()


API_FIELDS: dict[str, Normaliser] = {
    "allowed_uids": _id_list(to_uid, "user names or uids"),
    "allowed_groups": _id_list(to_gid, "group names or gids"), "unix_role": _role,
    "audit_log": to_str, "audit_required": to_bool, "statefile": to_str,
    "max_body_bytes": lambda v: to_int(v, minimum=1),
    "max_connections": lambda v: to_int(v, minimum=1),
}
# [ringleader.tcp], [[ringleader.tokens]], [[ringleader.client_certs]]: field -> (normaliser,
# what a missing required field should be; None when optional)
TCP_FIELDS: dict[str, tuple[Normaliser, str | None]] = {
    "listen": (_listen, 'HOST:PORT such as "127.0.0.1:5555"'),
    "tls_cert": (to_str, "the PEM certificate file"), "tls_key": (to_str, "the PEM key file"),
    "client_ca": (to_str, None), "client_cert_required": (to_bool, None),
    "dashboard_hosts": (_host_list, None),
}
# [ringleader.dashboard]
DASHBOARD_FIELDS: dict[str, tuple[Normaliser, str | None]] = {
    "session_lifetime": (lambda v: to_float(v, minimum=1), None),
    "idle_timeout": (lambda v: to_float(v, minimum=1), None),
}
def _token_name(v: Any) -> str:
    name = to_str(v)
    problem = plain_name_problem(name, "@")
    if problem is not None:
        raise BadValue(problem.partition(", got")[0])
    return name


TOKEN_FIELDS: dict[str, tuple[Normaliser, str | None]] = {
    "name": (_token_name, "a name"), "role": (_role, "read, operate or admin"),
    "hash": (_token_hash, "sha256:<64 hex digits>, the output of `ringleader token hash`"),
}
CERT_FIELDS: dict[str, tuple[Normaliser, str | None]] = {
    "cn": (to_str, "the certificate's common name"), "role": (_role, "read, operate or admin"),
}
_PLAIN_TOKEN = ("a plain token is never stored in the config: store hash = the output of "
                "`ringleader token hash` instead")


def api_table(raw: Any, fields: dict[str, tuple[Normaliser, str | None]], where: str, name: str,
           report: Report) -> dict[str, Any] | None:
    """One sub-table (tcp, a token, a client cert); None when it has problems."""
    if not isinstance(raw, dict):
        report.bad(where, name, raw, BadValue("a table"))
        return None
    before = len(report.problems)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "token" and fields is TOKEN_FIELDS:
            report.error(where, f"{name}.token", _PLAIN_TOKEN)
        elif key not in fields:
            report.unknown(where, f"{name}.{key}", [f"{name}.{k}" for k in fields])
        else:
            try:
                out[key] = fields[key][0](value)
            except BadValue as exc:
                report.bad(where, f"{name}.{key}", value, exc)
    for key, (_, expected) in fields.items():
        if expected and key not in raw and not (key == "hash" and "token" in raw):
            detail = f"{TCP_NEEDS_AUTH}: " if name == "tcp" and key.startswith("tls") else ""
            report.error(where, f"{name}.{key}", f"missing ({detail}expected {expected})")
    return out if len(report.problems) == before else None


def api_table_list(raw: Any, where: str, key: str, report: Report) -> list[Any] | None:
    if isinstance(raw, dict):
        raw = [raw]  # a single [ringleader.tokens] table instead of [[...]]
    if not isinstance(raw, list):
        report.bad(where, key, raw, BadValue(f"[[ringleader.{key}]] tables"))
        return None
    fields = TOKEN_FIELDS if key == "tokens" else CERT_FIELDS
    tables = [api_table(item, fields, where, f"{key}[{i}]", report) for i, item in enumerate(raw)]
    return None if any(t is None for t in tables) else tables


def check_api(out: dict[str, Any], where: str, report: Report) -> None:
    """Rules across the API fields; a part already reported as bad (None) is skipped."""
    tcp, tokens, certs = out.get("tcp"), out.get("tokens") or [], out.get("client_certs") or []
    for key in ("tcp", "tokens", "client_certs"):
        if key in out and out[key] is None:
            return
    if tcp is not None:
        if tcp.get("client_cert_required") and not tcp.get("client_ca"):
            report.error(where, "tcp.client_cert_required", "needs tcp.client_ca (expected "
                         "the PEM file of the CAs that sign client certificates)")
        elif not tokens and not tcp.get("client_ca"):
            report.error(where, "tcp", f"{TCP_NEEDS_AUTH} (expected [[ringleader.tokens]] or "
                         "tcp.client_ca)")
    for key, ident in (("tokens", "name"), ("client_certs", "cn")):
        seen: set[str] = set()
        for entry in out.get(key) or []:
            if entry.get(ident) in seen:
                report.error(where, key, f"duplicate {ident} \"{entry[ident]}\"")
            seen.add(entry.get(ident))
    if certs and (tcp is None or not tcp.get("client_ca")):
        report.error(where, "client_certs", "needs tcp.client_ca to verify the certificates")
