"""The controller as a program: an Arbiter driven by signals (and, later, the control API).

SIGTERM/SIGINT: graceful stop of everything, then exit 0; a second SIGINT/SIGTERM kills
what is still stopping. SIGHUP: reload the config file (a bad file changes nothing).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from ringleader.config.load import load_config
from ringleader.config.model import Config
from ringleader.core.arbiter import Arbiter
from ringleader.core.signals import SignalQueue
from ringleader.errors import ConfigError

log = logging.getLogger("ringleader.daemon")

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


class Daemon:
    def __init__(self, config: Config, *, console_fd: int = 1,
                 reload: Callable[[], Config] | None = None) -> None:
        self.config = config
        self.arbiter = Arbiter(config.watchers, config.controller, console_fd=console_fd,
                               source=config.source)
        self.signals = SignalQueue()
        self._reload = reload
        if reload is None and config.source:
            source = config.source
            self._reload = lambda: load_config(source)
        self._done = asyncio.Event()
        self._stop_task: asyncio.Task[None] | None = None

    async def run(self) -> int:
        """Run until told to stop; returns the exit code."""
        self.signals.install(HANDLED)
        try:
            await self.arbiter.start()
            while not self._done.is_set():
                get = asyncio.ensure_future(self.signals.get())
                done = asyncio.ensure_future(self._done.wait())
                await asyncio.wait({get, done}, return_when=asyncio.FIRST_COMPLETED)
                done.cancel()
                if get.done():
                    sig = get.result()
                    await getattr(self, f"handle_{sig.name[3:].lower()}")()
                else:
                    get.cancel()
        finally:
            if self._stop_task is not None:
                await self._stop_task
            await self.arbiter.stop()
            self.signals.restore()
        return 0

    async def handle_term(self) -> None:
        if self._stop_task is None:
            log.info("stopping all watchers (send the signal again to kill them at once)")
            self._stop_task = asyncio.create_task(self._stop())
        else:
            log.warning("second stop signal: killing every process now")
            for watcher in self.arbiter.watchers:
                watcher.send_signal(signal.SIGKILL, children=True)

    handle_int = handle_term
    handle_quit = handle_term

    async def _stop(self) -> None:
        await self.arbiter.stop()
        self._done.set()

    async def handle_hup(self) -> None:
        if self._stop_task is not None:
            return
        if self._reload is None:
            log.warning("SIGHUP: no config file to reload")
            return
        try:
            config = self._reload()
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload refused: %s", problem)
            return
        for warning in config.warnings:
            log.warning("%s", warning)
        self.config = config
        await self.arbiter.reload_config(config)


def run(config: Config, *, console_fd: int = 1) -> int:
    return asyncio.run(Daemon(config, console_fd=console_fd).run())
