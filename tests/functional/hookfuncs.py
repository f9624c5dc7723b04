"""Hook functions for test_hooks.py and the engine-level tests, imported by dotted path
(``hookfuncs.NAME``) as a config would name them."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

CALLS: list[dict[str, Any]] = []
RELEASE = threading.Event()  # lets a hanging sync hook end (test cleanup)
ENTERED = threading.Event()  # set when the hanging sync hook has started


def sync_ok(watcher: Any, arbiter: Any, hook_name: str, **kwargs: Any) -> bool:
    CALLS.append({"watcher": watcher, "arbiter": arbiter, "hook_name": hook_name,
                  "thread": threading.current_thread().name, **kwargs})
    return True


def returns_none(watcher: Any, arbiter: Any, hook_name: str, **kwargs: Any) -> None:
    CALLS.append({"hook_name": hook_name})


async def async_ok(watcher: Any, arbiter: Any, hook_name: str, **kwargs: Any) -> bool:
    await asyncio.sleep(0)
    CALLS.append({"hook_name": hook_name, "async": True, **kwargs})
    return True


def raising(watcher: Any, arbiter: Any, hook_name: str, **kwargs: Any) -> bool:
    raise ValueError("redis is not up")


def returns_false(watcher: Any, arbiter: Any, hook_name: str, **kwargs: Any) -> bool:
    return False


def exits(watcher: Any, arbiter: Any, hook_name: str, **kwargs: Any) -> bool:
    raise SystemExit(3)


def hangs(watcher: Any, arbiter: Any, hook_name: str, **kwargs: Any) -> bool:
    ENTERED.set()
    RELEASE.wait(60)
    return True


async def hangs_async(watcher: Any, arbiter: Any, hook_name: str, **kwargs: Any) -> bool:
    await asyncio.sleep(600)
    return True


def stats_in_place(watcher: Any, arbiter: Any, hook_name: str, pid: int,
                   stats: dict[str, Any], **kwargs: Any) -> None:
    stats["queue_depth"] = 7  # as circus hooks do


def stats_returned(watcher: Any, arbiter: Any, hook_name: str, **kwargs: Any) -> dict[str, Any]:
    return {"requests": 42}


class Checker:
    async def __call__(self, watcher: Any, arbiter: Any, hook_name: str, **kw: Any) -> bool:
        CALLS.append({"hook_name": hook_name, "callable_object": True})
        return True


checker = Checker()

NOT_CALLABLE = 3


def queue_stats(watcher: Any, arbiter: Any, hook_name: str, stats: dict[str, Any],
                **kwargs: Any) -> dict[str, Any]:
    CALLS.append({"hook_name": hook_name, "watcher": watcher, "stats": stats, **kwargs})
    return {"queue": 3}
