"""Ringleader inside a Python application: ``get_arbiter`` runs the engine in a background
thread and drives it with blocking, thread-safe calls.

    with get_arbiter("python worker.py", 3) as arbiter:
        arbiter.incr("worker")
        print(arbiter.status("worker").running)

Async applications use ``ringleader.Arbiter`` directly (``async with Arbiter(...)``).
"""

from __future__ import annotations

from ringleader.library.background import BackgroundArbiter, get_arbiter
from ringleader.library.feeds import Feed

__all__ = ["BackgroundArbiter", "Feed", "get_arbiter"]
