"""The controller's own log: one readable line per action."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"


def setup_logging(level: str = "info", output: str = "-") -> None:
    """Log at `level` to stderr ('-') or to the file `output` (appended)."""
    handler: logging.Handler
    if output in ("-", "stderr"):
        handler = logging.StreamHandler(sys.stderr)
    elif output == "stdout":
        handler = logging.StreamHandler(sys.stdout)
    else:
        handler = logging.FileHandler(output, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT, DATEFMT))
    root = logging.getLogger("ringleader")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
