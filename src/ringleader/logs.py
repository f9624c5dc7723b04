"""The controller's own log: one readable line per action."""

from __future__ import annotations

import logging
import sys

from ringleader.trusted_files import open_trusted

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"


def setup_logging(level: str = "info", output: str = "-") -> None:
    """Log at `level` to stderr ('-'), to syslog (syslog://...) or to the file `output`
    (appended; opened by ``trusted_files.open_trusted``: never through a symbolic link,
    ours, not writable by others; raises UntrustedFile, or OSError)."""
    handler: logging.Handler
    if output in ("-", "stderr"):
        handler = logging.StreamHandler(sys.stderr)
    elif output == "stdout":
        handler = logging.StreamHandler(sys.stdout)
    elif output.startswith("syslog://"):
        handler = syslog_handler(output)
    else:
        fd = open_trusted(output, "a", create=True, perm=0o600, devices=True,
                          shared_dir_ok=True)
        stream = open(fd, "a", encoding="utf-8", closefd=True)  # noqa: SIM115 - the handler keeps it
        handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT, DATEFMT))
    root = logging.getLogger("ringleader")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False


def syslog_handler(url: str) -> logging.Handler:
    """circus's logoutput = syslog://[HOST[:PORT]][/PATH][?FACILITY]: a syslog server over
    UDP (port 514), or the local socket at PATH (default /dev/log); facility user by
    default. Raises OSError (no such socket) or ValueError (an unknown facility)."""
    from logging.handlers import SysLogHandler
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    facility = (parts.query or "user").lower()
    if facility not in SysLogHandler.facility_names:
        raise ValueError(f"{url}: unknown syslog facility {facility!r} (expected one of "
                         f"{', '.join(sorted(SysLogHandler.facility_names))})")
    address: str | tuple[str, int] = ((parts.hostname, parts.port or 514) if parts.hostname
                                       else parts.path or "/dev/log")
    handler = SysLogHandler(address, facility=SysLogHandler.facility_names[facility])
    handler.ident = "ringleader: "
    return handler
