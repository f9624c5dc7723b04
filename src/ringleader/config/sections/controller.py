"""The controller section (``[ringleader]``, circus ``[circus]``, the library's dict):
its options, the circus ones not supported yet, and its normalisation into the model."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ringleader.config.model import ControllerConfig
from ringleader.config.report import Report, convert
from ringleader.config.sections.api import (
    API_FIELDS,
    DASHBOARD_FIELDS,
    TCP_FIELDS,
    api_table,
    api_table_list,
    check_api,
)
from ringleader.config.values import (
    BadValue,
    nul_in,
    to_float,
    to_int,
    to_str,
    to_uid,
    to_umask,
)

Normaliser = Callable[[Any], Any]


def _user(value: Any) -> str:
    """A user name or uid that exists (the controller switches to it at start)."""
    text = str(to_uid(value)) if isinstance(value, int) else to_str(value).strip()
    to_uid(text)  # exists?
    return text

def _logoutput(value: Any) -> str:
    """"-", a file, or circus's syslog://[HOST[:PORT]][/PATH][?FACILITY]."""
    text = to_str(value)
    if text.startswith("syslog://"):
        from logging.handlers import SysLogHandler  # only for this spelling
        from urllib.parse import urlsplit

        facility = (urlsplit(text).query or "user").lower()
        if facility not in SysLogHandler.facility_names:
            raise BadValue("syslog://[HOST[:PORT]][/PATH][?FACILITY] with a facility such as "
                           "user, daemon, local0", f"unknown syslog facility {facility!r}")
    return text


CONTROLLER_FIELDS: dict[str, Normaliser] = {
    "pidfile": to_str, "logoutput": _logoutput, "warmup_delay": to_float, "umask": to_umask,
    "max_processes": lambda v: to_int(v, minimum=1, maximum=1_000_000),
    "user": _user, "minfds": lambda v: to_int(v, minimum=1),
    "minprocs": lambda v: to_int(v, minimum=1),
    "log_max_bytes": lambda v: to_int(v, minimum=0),
    "log_backups": lambda v: to_int(v, minimum=0, maximum=1000),
    **API_FIELDS,
}
# circus [circus] options without an equivalent yet (circus/config.py get_config).
CONTROLLER_LATER: frozenset[str] = frozenset({
    "check_delay", "endpoint_owner", "pubsub_endpoint", "multicast_endpoint",
    "stats_endpoint", "statsd", "statsd_close_outputs", "httpd", "httpd_host", "httpd_port",
    "debug", "debug_gc", "loggerconfig", "fqdn_prefix", "stream_backend", "papa_endpoint",
    "httpd_close_outputs",
})
_LOGLEVELS = ("debug", "info", "warning", "error", "critical")
_LOG_FORMATS = ("auto", "text", "json", "journal")


def build_controller(options: Mapping[str, Any], endpoint: str | None, where: str,
                     report: Report) -> ControllerConfig | None:
    """*endpoint* is already resolved by the dialect (its rules differ between TOML and INI)."""
    before = len(report.problems)
    out: dict[str, Any] = {"endpoint": endpoint}
    later: list[str] = []
    nul = nul_in({"endpoint": endpoint, **options})
    if nul is not None:
        report.error(where, nul, "contains a NUL character (expected text without NUL)")
        return None
    for key, value in options.items():
        try:
            if key in CONTROLLER_FIELDS:
                out[key] = CONTROLLER_FIELDS[key](value)
            elif key == "loglevel":
                level = to_str(value).strip().lower()
                level = "warning" if level == "warn" else level
                if level not in _LOGLEVELS:
                    raise BadValue("one of " + ", ".join(_LOGLEVELS))
                out[key] = level
            elif key == "log_format":
                fmt = to_str(value).strip().lower()
                if fmt not in _LOG_FORMATS:
                    raise BadValue("one of " + ", ".join(_LOG_FORMATS))
                out[key] = fmt
            elif key == "tcp":
                out[key] = api_table(value, TCP_FIELDS, where, "tcp", report)
            elif key == "dashboard":
                out[key] = api_table(value, DASHBOARD_FIELDS, where, "dashboard", report)
            elif key in ("tokens", "client_certs"):
                out[key] = api_table_list(value, where, key, report)
            elif key in ("endpoint", "include", "include_dir"):
                continue  # handled by the dialect
            elif key in CONTROLLER_LATER:
                later.append(key)
            else:
                report.unknown(where, key, [*CONTROLLER_FIELDS, "loglevel", "log_format",
                                            "endpoint", "include", "include_dir", "tcp", "tokens",
                                            "client_certs", "dashboard", *CONTROLLER_LATER])
        except BadValue as exc:
            report.bad(where, key, value, exc)
    check_api(out, where, report)
    if later:
        report.warnings.append(f"{where} options not supported yet, ignored: "
                               + ", ".join(later))
    if len(report.problems) > before:
        return None
    return convert(out, ControllerConfig, where, "", report)
