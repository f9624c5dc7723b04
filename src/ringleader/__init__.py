"""Ringleader: run, watch, respawn and control groups of processes.

As a library (docs/library.md):

- ``get_arbiter("python worker.py", 3)`` or ``get_arbiter([{...}, ...])``: a
  ``BackgroundArbiter``, whose engine runs in a thread of its own, for synchronous code;
  ``with get_arbiter(...) as arbiter:`` starts and stops it.
- ``Arbiter([...])``: the engine itself, for async code (``async with Arbiter(...)``).
- ``WatcherConfig``, ``ControllerConfig``: the typed options (plain dicts work too).
- Answers are the Structs of ``ringleader.engine.answers``; errors are in
  ``ringleader.errors``; ``ringleader.testing`` helps tests.

The public names are imported lazily so that the command line (which imports this
package first) does not pay for the engine.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs the console ~4 ms

__version__ = "0.1.0"
__all__ = ["Arbiter", "BackgroundArbiter", "ControllerConfig", "Feed", "WatcherConfig",
           "__version__", "get_arbiter"]

if TYPE_CHECKING:
    from typing import Any

    from ringleader.config.model import ControllerConfig, WatcherConfig
    from ringleader.engine.arbiter import Arbiter
    from ringleader.library import BackgroundArbiter, Feed, get_arbiter

_LAZY = {
    "Arbiter": "ringleader.engine.arbiter",
    "BackgroundArbiter": "ringleader.library",
    "Feed": "ringleader.library",
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


def __dir__() -> list[str]:
    # dir() and help() list the lazy names too: they are the public API.
    return sorted({*globals(), *__all__})
