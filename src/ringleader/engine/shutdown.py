"""How an Arbiter ends: the last output of its watchers drained (for a bounded time),
then what its start opened closed, in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ringleader.engine.services import Services
from ringleader.engine.watcher import Watcher

if TYPE_CHECKING:
    from ringleader.features.listeners import EventHub

log = logging.getLogger("ringleader.arbiter")

# How long to wait, at shutdown, for the last output of exited processes whose pipes
# are still held open by a grandchild; after that the pumps are closed.
_OUTPUT_DRAIN_TIMEOUT = 5.0


async def drain_output(watchers: Iterable[Watcher]) -> None:
    """Wait until what the watchers' processes wrote reached its sinks, then close the
    pumps (those still open after the timeout too)."""
    watchers = list(watchers)
    try:
        async with asyncio.timeout(_OUTPUT_DRAIN_TIMEOUT):
            await asyncio.gather(*(w.wait_output() for w in watchers))
    except TimeoutError:
        log.warning("output pipes still held open (by grandchildren?): closing them")
    for w in watchers:
        w.close_output()


async def close_services(services: Services, events: EventHub | None) -> None:
    """Close the shared services once the watchers are stopped and their output drained:
    the output hub, the event listeners' hub, the guardian, the reaper, the sd_notify
    socket, the listening sockets."""
    await services.hub.aclose()
    if events is not None:
        events.close()
    if services.guardian is not None:
        await services.guardian.close()
    services.reaper.close()
    if services.notify is not None:
        services.notify.close()
    if services.sockets is not None:
        services.sockets.close_all()
