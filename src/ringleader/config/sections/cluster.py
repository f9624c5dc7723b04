"""The ``[cluster]`` table of a node: its settings, checked against the controller's own
(the console reaches a node through its TLS listener, so ``advertise`` needs one)."""

from __future__ import annotations

from typing import Any

import msgspec

from ringleader.config.cluster import WILDCARDS, ClusterSettings, settings_from_dict
from ringleader.config.model import ControllerConfig, parse_listen
from ringleader.config.report import Report
from ringleader.config.values import show
from ringleader.errors import ConfigError


def build_cluster(value: Any, where: str, base_dir: str, controller: ControllerConfig | None,
                  report: Report) -> ClusterSettings | None:
    """The settings, or None with the problems in ``report``. ``advertise`` defaults to
    the TLS listener's address unless that is a wildcard (then the console cannot reach
    this node's API: a warning says so)."""
    if not isinstance(value, dict):
        report.error(where, "", f"expected a table, got {show(value)}")
        return None
    try:
        settings = settings_from_dict(value, where=where, base_dir=base_dir)
    except ConfigError as exc:
        report.problems.extend(exc.problems)
        return None
    tcp = controller.tcp if controller is not None else None
    if settings.advertise is not None and tcp is None:
        report.error(where, "advertise", "this controller has no TLS listener to advertise "
                     "(expected a [ringleader.tcp] table)")
        return None
    if settings.advertise is None and tcp is not None:
        host, port = parse_listen(tcp.listen)
        if host not in WILDCARDS and port != 0:
            return msgspec.structs.replace(settings, advertise=tcp.listen)
    if settings.advertise is None:
        report.warnings.append(f"{where} advertise: not set, so `ringleader cluster` "
                               "commands cannot reach this node's API (live commands skip "
                               "it); set it to this node's [ringleader.tcp] HOST:PORT")
    return settings
