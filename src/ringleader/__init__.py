"""Ringleader: run, watch, respawn and control groups of processes.

The public names are imported lazily so that the command line (which imports this
package first) does not pay for the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Arbiter", "BackgroundArbiter", "ControllerConfig", "WatcherConfig", "__version__",
           "get_arbiter"]

if TYPE_CHECKING:
    from ringleader.config.model import ControllerConfig, WatcherConfig
    from ringleader.engine.arbiter import Arbiter
    from ringleader.library import BackgroundArbiter, get_arbiter

_LAZY = {
    "Arbiter": "ringleader.engine.arbiter",
    "BackgroundArbiter": "ringleader.library",
    "get_arbiter": "ringleader.library",
    "ControllerConfig": "ringleader.config.model",
    "WatcherConfig": "ringleader.config.model",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ringleader' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
