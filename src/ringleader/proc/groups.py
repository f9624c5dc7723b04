"""Ending what a stopped worker leaves in its process group.

Each worker is the leader of a session and a process group of its own (pgid == pid).
A worker that exits on its stop signal may leave children behind in its group (a shell
wrapper's command, a pool's members): the stop is over only when they are gone too
(supervisord's `killasgroup`, circus's tree kill). Once the worker is reaped only /proc
can tell who is left; the group's number stays reserved while it has members (zombies
included), so signalling the group cannot hit an unrelated process that got the number.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from ringleader.proc.procfs import group_members

log = logging.getLogger("ringleader.process")

_POLL_FIRST, _POLL_MAX = 0.01, 0.25  # seconds between two looks at the group
KILL_WAIT = 5.0  # seconds to wait for SIGKILLed members to be gone


def signal_group(pgid: int, signum: int) -> bool:
    """Send `signum` to process group `pgid`; False if it has no member left (zombies
    count as members for the kernel, not for `live_group`)."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a member we may not signal (setuid): it is there all the same
    return True


async def live_group(pgid: int) -> list[int]:
    """The live members of `pgid` (read off the event loop)."""
    return await asyncio.to_thread(group_members, pgid)


async def _wait_empty(pgid: int, deadline: float) -> list[int]:
    """Poll until the group has no live member or the loop's clock reaches `deadline`;
    the members left (empty: all gone)."""
    loop = asyncio.get_running_loop()
    delay = _POLL_FIRST
    while True:
        members = await live_group(pgid)
        left = deadline - loop.time()
        if not members or left <= 0:
            return members
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 2, _POLL_MAX)


async def end_group(pgid: int, deadline: float, name: str) -> None:
    """After worker `name` (the leader of `pgid`) exited on a stop: its group got
    SIGTERM; wait for the members until `deadline` (the loop's clock: the end of the
    stop's graceful_timeout), then SIGKILL the group and wait for it to be empty."""
    members = await _wait_empty(pgid, deadline)
    if not members:
        return
    log.warning("%s: %d process(es) of its group still alive after the graceful timeout "
                "(pids %s): SIGKILL", name, len(members), " ".join(map(str, members[:10])))
    signal_group(pgid, signal.SIGKILL)
    loop = asyncio.get_running_loop()
    members = await _wait_empty(pgid, loop.time() + KILL_WAIT)
    if members:
        log.error("%s: %d process(es) of its group survive SIGKILL: %s", name,
                  len(members), " ".join(map(str, members[:10])))

